-- Audit trail: sign-ins, sign-ups, confirmations, password changes and admin
-- actions. Never holds a secret: no passwords, codes, tokens or bodies.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    pool_id    TEXT,
    sub        TEXT,
    username   TEXT,
    client_id  TEXT,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_pool ON audit_events(pool_id, created_at);
CREATE INDEX audit_events_user ON audit_events(pool_id, sub, created_at);
