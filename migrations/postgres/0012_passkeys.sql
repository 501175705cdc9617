-- Passkeys (WebAuthn credentials) per user. The public key and flags are
-- webauthn-rs's verified credential, as JSON (nothing secret). sign_count
-- is the authenticator's signature counter at the last use: an assertion is
-- accepted only with one atomic UPDATE that moves it forward (a cloned
-- authenticator's lower counter is refused, and of two concurrent uses of
-- one counter value exactly one wins).
CREATE TABLE webauthn_credentials (
    pool_id       TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    sub           TEXT NOT NULL,
    name          TEXT,
    passkey       TEXT NOT NULL,
    sign_count    BIGINT NOT NULL DEFAULT 0,
    transports    TEXT NOT NULL DEFAULT '[]',
    attachment    TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (pool_id, credential_id),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (pool_id, sub);
