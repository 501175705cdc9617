-- Identity pools (federation to storage credentials), roles, identities and
-- the logins linked to them.
CREATE TABLE identity_pools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Roles belong to the server (one server = one account).
CREATE TABLE iam_roles (
    name             TEXT PRIMARY KEY,
    policy           TEXT NOT NULL,
    max_session_secs INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE identities (
    identity_id      TEXT PRIMARY KEY,
    identity_pool_id TEXT NOT NULL REFERENCES identity_pools(id) ON DELETE CASCADE,
    -- Set when the identity is disabled: its credentials stop working.
    disabled_at      INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX identities_pool ON identities(identity_pool_id);

-- One (pool, provider, subject) belongs to at most one identity.
CREATE TABLE identity_logins (
    identity_pool_id TEXT NOT NULL,
    provider         TEXT NOT NULL,
    subject          TEXT NOT NULL,
    identity_id      TEXT NOT NULL REFERENCES identities(identity_id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (identity_pool_id, provider, subject)
);
CREATE INDEX identity_logins_identity ON identity_logins(identity_id);
