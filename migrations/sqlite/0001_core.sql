-- poolgate core schema (SQLite). Times are Unix seconds (INTEGER); JSON documents
-- (pool/client settings, user attributes) are TEXT. Every row below user_pools is
-- scoped by pool_id and deleted with its pool. Never edit an applied migration:
-- add a new file.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE user_pools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE app_clients (
    id            TEXT PRIMARY KEY,            -- globally unique, like Cognito's
    pool_id       TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_sealed BLOB,                        -- client secret sealed under the master key
    settings      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX app_clients_pool ON app_clients(pool_id);

CREATE TABLE users (
    pool_id       TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    sub           TEXT NOT NULL,
    username      TEXT NOT NULL,               -- normalised (lower-case unless the pool is case-sensitive)
    status        TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    password_hash TEXT,                        -- PHC string
    srp_sealed    BLOB,                        -- sealed SRP salt+verifier (Cognito facade)
    attributes    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub),
    UNIQUE (pool_id, username)
);

-- Sign-in names other than the username: email/phone when they are the username
-- (claimed at sign-up) or verified aliases. One owner per (pool, kind, value).
CREATE TABLE user_aliases (
    pool_id TEXT NOT NULL,
    kind    TEXT NOT NULL,
    value   TEXT NOT NULL,
    sub     TEXT NOT NULL,
    PRIMARY KEY (pool_id, kind, value),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX user_aliases_sub ON user_aliases(pool_id, sub);

-- One-time codes, stored as keyed hashes; one live code per (user, purpose).
CREATE TABLE codes (
    pool_id    TEXT NOT NULL,
    sub        TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub, purpose),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    alg            TEXT NOT NULL,
    private_sealed BLOB NOT NULL,              -- PKCS#8 sealed under the master key
    public_jwk     TEXT NOT NULL,
    status         TEXT NOT NULL,              -- pending | active | retired
    created_at     INTEGER NOT NULL,
    retire_after   INTEGER                     -- drop from JWKS after this time
);
CREATE INDEX signing_keys_pool ON signing_keys(pool_id);

-- A refresh-token family is one sign-in; its id is the tokens' origin_jti.
CREATE TABLE token_families (
    id         TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL,
    sub        TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,               -- absolute: rotation never extends it
    revoked_at INTEGER,
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX token_families_user ON token_families(pool_id, sub);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,               -- SHA-256 of the opaque token
    family_id  TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER                         -- set when rotated out
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- Dev mailer outbox (only written when the dev mailer is configured).
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    pool_id    TEXT,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_recipient ON outbox(recipient);
