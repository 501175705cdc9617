-- Consecutive failed sign-ins per user, shared by every node: the throttle
-- (growing lock delays) reads and updates it atomically.
CREATE TABLE signin_failures (
    pool_id      TEXT NOT NULL,
    sub          TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
