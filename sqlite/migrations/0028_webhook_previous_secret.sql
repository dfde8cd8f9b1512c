-- The secret a rotation replaced, sealed, and until when it keeps signing
-- deliveries beside the new one (microseconds; 0: not at all).
ALTER TABLE webhooks ADD COLUMN previous_secret BLOB;
ALTER TABLE webhooks ADD COLUMN previous_until INTEGER NOT NULL DEFAULT 0;
