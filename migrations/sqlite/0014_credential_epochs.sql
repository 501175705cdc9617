-- Revocation of storage credentials already issued (checklist I3). A
-- session token carries the epoch its identity had when it was minted; the
-- gateway refuses it once the epoch moved on. Unlinking a login moves it,
-- so credentials issued before the unlink stop working on every node, and
-- a login linked again later does not bring them back.
ALTER TABLE identities ADD COLUMN credentials_epoch INTEGER NOT NULL DEFAULT 0;
