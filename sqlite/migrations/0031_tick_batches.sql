-- A schedule tick fires in batches, each its own transaction (issue 16):
-- one transaction for all of a tick's configs held SQLite's one writer
-- for seconds at 100,000 configs. The tick's row records how far it got
-- (after_*: the last config queued, in key order; NULL before the first),
-- whether it is done, and which instance fires it until when (a lease
-- that each batch extends), so that another instance can finish a tick
-- whose instance died. Ticks recorded before, and those of schedules that
-- only claim (ClaimTick), are done.
ALTER TABLE schedule_ticks ADD COLUMN done INTEGER NOT NULL DEFAULT 1;
ALTER TABLE schedule_ticks ADD COLUMN lease_owner TEXT;
ALTER TABLE schedule_ticks ADD COLUMN lease_until INTEGER;
ALTER TABLE schedule_ticks ADD COLUMN after_org TEXT;
ALTER TABLE schedule_ticks ADD COLUMN after_env TEXT;
ALTER TABLE schedule_ticks ADD COLUMN after_account_pk TEXT;
ALTER TABLE schedule_ticks ADD COLUMN after_config_id TEXT;
CREATE INDEX schedule_ticks_unfinished ON schedule_ticks (name, slot) WHERE done = 0;
