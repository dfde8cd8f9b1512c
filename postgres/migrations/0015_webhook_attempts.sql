-- The delivery log: every attempt of a delivery, with the start of the
-- endpoint's answer. failing_since marks when an endpoint's current streak
-- of failed attempts began, so one failing for days can be disabled.
CREATE TABLE webhook_attempts (
	org_id      uuid        NOT NULL,
	env         text        NOT NULL,
	webhook_id  uuid        NOT NULL,
	event_id    text        NOT NULL,
	attempt     integer     NOT NULL,
	at          timestamptz NOT NULL,
	status      integer     NOT NULL, -- 0: no answer
	duration_us bigint      NOT NULL,
	headers     jsonb       NOT NULL, -- redacted
	body        bytea       NOT NULL, -- the first 4 KiB
	error       text        NOT NULL,
	PRIMARY KEY (org_id, env, webhook_id, event_id, attempt)
);

ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;
