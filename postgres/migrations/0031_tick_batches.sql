-- A schedule tick fires in batches, each its own transaction (issue 16):
-- one transaction for all of a tick's configs held FOR SHARE locks on all
-- their accounts for the whole tick. The tick's row records how far it got
-- (after_*: the last config queued, in key order; NULL before the first),
-- whether it is done, and which instance fires it until when (a lease
-- that each batch extends), so that another instance can finish a tick
-- whose instance died. Ticks recorded before, and those of schedules that
-- only claim (ClaimTick), are done.
ALTER TABLE schedule_ticks ADD COLUMN done boolean NOT NULL DEFAULT true;
ALTER TABLE schedule_ticks ADD COLUMN lease_owner text;
ALTER TABLE schedule_ticks ADD COLUMN lease_until timestamptz;
ALTER TABLE schedule_ticks ADD COLUMN after_org uuid;
ALTER TABLE schedule_ticks ADD COLUMN after_env text;
ALTER TABLE schedule_ticks ADD COLUMN after_account_pk uuid;
ALTER TABLE schedule_ticks ADD COLUMN after_config_id text COLLATE "C";
CREATE INDEX schedule_ticks_unfinished ON schedule_ticks (name, slot) WHERE NOT done;
