-- The authorization-code flow: single-use codes, the hosted pages' sign-in
-- sessions (single sign-on across a pool's clients), and the scope a
-- refresh family was granted (NULL: the native API's default).
ALTER TABLE token_families ADD COLUMN scope TEXT;

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    pool_id        TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    sub            TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    family_id      TEXT
);
CREATE INDEX oauth_codes_expiry ON oauth_codes(expires_at);

CREATE TABLE login_sessions (
    id_hash    TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    sub        TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions(pool_id, sub);
