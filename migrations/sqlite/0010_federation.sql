-- Federated sign-in into user pools: the pool's external identity providers
-- (OIDC, Google, Facebook, Sign in with Apple; the client secret sealed under
-- the master key), which provider subject belongs to which user (first
-- sign-in or an admin's link), and the pending redirects to a provider
-- (single use, expiring, bound to the browser that started them).
CREATE TABLE identity_providers (
    pool_id       TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    settings      TEXT NOT NULL,
    secret_sealed BLOB,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (pool_id, name)
);

CREATE TABLE user_identities (
    pool_id    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    sub        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (pool_id, provider, subject),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX user_identities_user ON user_identities(pool_id, sub);

CREATE TABLE federation_states (
    id_hash      TEXT PRIMARY KEY,
    pool_id      TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX federation_states_expiry ON federation_states(expires_at);
