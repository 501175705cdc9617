-- A new refresh family and its first token in one statement: an INSERT into
-- this view writes both rows through its INSTEAD OF trigger, atomically (a
-- statement is all or nothing), so a sign-in or a code exchange costs one
-- round trip instead of BEGIN, two INSERTs and COMMIT. A taken family id
-- fails the whole statement with the family's unique-key error. Reading the
-- view lists every family with each of its tokens. The same view and trigger
-- exist on SQLite, so both backends run one SQL text.
CREATE VIEW session_starts AS
SELECT f.id, f.pool_id, f.sub, f.client_id, f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.scope,
       t.token_hash
FROM token_families f JOIN refresh_tokens t ON t.family_id = f.id;

CREATE FUNCTION session_starts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_families (id, pool_id, sub, client_id, auth_time, created_at, expires_at, revoked_at, scope)
    VALUES (NEW.id, NEW.pool_id, NEW.sub, NEW.client_id, NEW.auth_time, NEW.created_at, NEW.expires_at, NEW.revoked_at, NEW.scope);
    INSERT INTO refresh_tokens (token_hash, family_id, created_at, used_at)
    VALUES (NEW.token_hash, NEW.id, NEW.created_at, NULL);
    RETURN NEW;
END
$$;

CREATE TRIGGER session_starts_insert INSTEAD OF INSERT ON session_starts
    FOR EACH ROW EXECUTE FUNCTION session_starts_insert();
