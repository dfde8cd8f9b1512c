-- Webhook endpoints, and the outbox: an event and one delivery per matching
-- endpoint are written in the transaction of the change that caused them
-- (with its audit entry). Events no endpoint receives are not kept.
CREATE TABLE webhooks (
	org_id          uuid        NOT NULL,
	env             text        NOT NULL,
	id              uuid        NOT NULL,
	enabled         boolean     NOT NULL,
	events          jsonb       NOT NULL, -- array of event names
	url             text        NOT NULL,
	type            text        NOT NULL,
	method          text        NOT NULL,
	headers         jsonb       NOT NULL,
	body            text        NOT NULL,
	slug            text        NOT NULL,
	workflow_ids    jsonb       NOT NULL,
	description     text        NOT NULL,
	grp             text        NOT NULL,
	secret          bytea,                -- sealed with data_key
	data_key        bytea,
	disabled_reason text        NOT NULL,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id)
);

CREATE TABLE webhook_events (
	org_id      uuid        NOT NULL,
	env         text        NOT NULL,
	id          text        NOT NULL,
	type        text        NOT NULL,
	account_id  text        NOT NULL,
	slug        text        NOT NULL,
	workflow_id text        NOT NULL,
	payload     jsonb       NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id)
);

CREATE TABLE webhook_deliveries (
	org_id      uuid        NOT NULL,
	env         text        NOT NULL,
	webhook_id  uuid        NOT NULL,
	event_id    text        NOT NULL,
	state       text        NOT NULL,
	attempts    integer     NOT NULL,
	next_at     timestamptz NOT NULL,
	lease_owner text,
	lease_until timestamptz,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
