-- OAuth resource servers of a user pool and their custom scopes
-- (`<identifier>/<scope>`). Scopes are a JSON array of {name, description}.
CREATE TABLE resource_servers (
    pool_id    TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pool_id, identifier)
);
