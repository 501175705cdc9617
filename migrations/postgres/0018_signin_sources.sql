-- Where each user last signed in successfully, per client network (G2): a
-- sign-in from a known (user, source) pair is not charged to the pool-wide
-- sign-in budget and its password check goes ahead of the anonymous queue,
-- so a flood from many new addresses cannot lock the pool's users out. Kept
-- in the store so every node sees the same answer.
CREATE TABLE signin_known_sources (
    pool_id         TEXT NOT NULL,
    sub             TEXT NOT NULL,
    source          TEXT NOT NULL,
    last_success_at BIGINT NOT NULL,
    PRIMARY KEY (pool_id, sub, source),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

-- Failed sign-ins of names that designate no user, keyed by a hash of the
-- name (G3): an unknown name is throttled exactly like a known account (the
-- growing delays per source, the row with source '' for the hard cap), so
-- the lockout answer does not tell whether the user exists. Transient: rows
-- untouched for a day are purged.
CREATE TABLE signin_name_failures (
    pool_id      TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name_key     TEXT NOT NULL,
    source       TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name_key, source)
);
CREATE INDEX signin_name_failures_updated ON signin_name_failures (updated_at);
