-- Deleting an app client revokes its refresh families (and so its access
-- tokens) in the same transaction; this index finds them without a scan.
CREATE INDEX token_families_client ON token_families(pool_id, client_id);
