-- Admin changes are recorded by the services, whatever the door: who made
-- the change (an admin key's fingerprint, or the CLI's OS user), through
-- which door (native, cognito, cli), and the object beyond pool, user and
-- client (group:<name>, role:<name>, identity:<id>...). NULL for the events
-- of users' own flows (sign-in, sign-up...). Never a secret.
ALTER TABLE audit_events ADD COLUMN actor TEXT;
ALTER TABLE audit_events ADD COLUMN door TEXT;
ALTER TABLE audit_events ADD COLUMN target TEXT;
-- The cross-pool listing of admin changes (GET /v1/admin/events).
CREATE INDEX audit_events_admin ON audit_events(created_at, id) WHERE door IS NOT NULL;
