-- The delivery log: every attempt of a delivery, with the start of the
-- endpoint's answer. failing_since marks when an endpoint's current streak
-- of failed attempts began, so one failing for days can be disabled.
CREATE TABLE webhook_attempts (
	org_id      TEXT    NOT NULL,
	env         TEXT    NOT NULL,
	webhook_id  TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	attempt     INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	status      INTEGER NOT NULL, -- 0: no answer
	duration_us INTEGER NOT NULL,
	headers     TEXT    NOT NULL, -- JSON object, redacted
	body        BLOB    NOT NULL, -- the first 4 KiB
	error       TEXT    NOT NULL,
	PRIMARY KEY (org_id, env, webhook_id, event_id, attempt)
);

ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
