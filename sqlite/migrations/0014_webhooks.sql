-- Webhook endpoints, and the outbox: an event and one delivery per matching
-- endpoint are written in the transaction of the change that caused them
-- (with its audit entry). Events no endpoint receives are not kept.
CREATE TABLE webhooks (
	org_id          TEXT    NOT NULL,
	env             TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	enabled         INTEGER NOT NULL,
	events          TEXT    NOT NULL, -- JSON array of event names
	url             TEXT    NOT NULL,
	type            TEXT    NOT NULL,
	method          TEXT    NOT NULL,
	headers         TEXT    NOT NULL, -- JSON object
	body            TEXT    NOT NULL,
	slug            TEXT    NOT NULL,
	workflow_ids    TEXT    NOT NULL, -- JSON array
	description     TEXT    NOT NULL,
	grp             TEXT    NOT NULL,
	secret          BLOB,             -- sealed with data_key
	data_key        BLOB,
	disabled_reason TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id)
);

CREATE TABLE webhook_events (
	org_id      TEXT    NOT NULL,
	env         TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	account_id  TEXT    NOT NULL,
	slug        TEXT    NOT NULL,
	workflow_id TEXT    NOT NULL,
	payload     TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id)
);

CREATE TABLE webhook_deliveries (
	org_id      TEXT    NOT NULL,
	env         TEXT    NOT NULL,
	webhook_id  TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL,
	next_at     INTEGER NOT NULL,
	lease_owner TEXT,
	lease_until INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
