-- Challenge sessions of sign-in flows (NEW_PASSWORD_REQUIRED now; MFA, SRP
-- later): expiring, single use (taken with DELETE ... RETURNING), bound to
-- pool, client and user. Only a hash of the session token is stored.
CREATE TABLE auth_sessions (
    id         TEXT PRIMARY KEY,
    pool_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    challenge  TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
