-- The sign-in throttle gets a source dimension (G2): growing delays apply
-- per (user, client network), so failures from an attacker's address do not
-- lock the victim out of their own; the row with source '' counts every
-- consecutive failure of the account, for the hard cap (G1). The counters are
-- transient, so the old table is replaced rather than converted.
DROP TABLE signin_failures;
CREATE TABLE signin_failures (
    pool_id      TEXT NOT NULL,
    sub          TEXT NOT NULL,
    source       TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub, source),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

-- Fixed-window rate-limit counters shared by every node: one row per bucket
-- (for example `signin:ip:203.0.113.7`), reset when a new window starts.
CREATE TABLE rate_limits (
    bucket       TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);
