-- The compatible x-cobalt-signature: an HMAC under the environment's API
-- key, of which linkd keeps only a hash. So each webhook keeps a sealed
-- copy of the raw key that last saved it (sealed with data_key, bound to the
-- webhook and the key id), and which key that was. Revoking the key deletes
-- the copy in the same transaction and says so in signing_key_revoked
-- (empty while the key is live); deliveries are then sent unsigned by it.
ALTER TABLE webhooks ADD COLUMN compat_signing_key_id uuid;
ALTER TABLE webhooks ADD COLUMN compat_signing_key bytea;
ALTER TABLE webhooks ADD COLUMN signing_key_revoked text NOT NULL DEFAULT '';
CREATE INDEX webhooks_compat_signing_key ON webhooks (org_id, compat_signing_key_id) WHERE compat_signing_key_id IS NOT NULL;
