-- The secret a rotation replaced, sealed, and until when it keeps signing
-- deliveries beside the new one.
ALTER TABLE webhooks ADD COLUMN previous_secret bytea;
ALTER TABLE webhooks ADD COLUMN previous_until timestamptz;
