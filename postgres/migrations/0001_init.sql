-- Ids are uuid (time-ordered v7 from linkd.NewID), times timestamptz
-- (microseconds, like SQLite's integers), blobs bytea. Every table read by
-- tenant has a key that starts with (org_id, env, …), so one tenant's lookups
-- never wander into another's rows. No extensions, so that the schema also
-- runs on PostgreSQL-compatible distributed databases.

CREATE TABLE settings (
	name  text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE orgs (
	id         uuid PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
	id           uuid PRIMARY KEY,
	org_id       uuid NOT NULL REFERENCES orgs (id),
	env          text NOT NULL CHECK (env IN ('test', 'production')),
	name         text NOT NULL,
	prefix       text NOT NULL,
	hash         bytea NOT NULL UNIQUE,
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- udf is a JSON object from key to {"v": value, "c": created, "u": updated}
-- (see linkd.EncodeUDF): one row per account keeps bulk imports cheap.
-- data_key is made when the first secret is stored. import_job marks the last
-- import that wrote the row (it detects repeated ids within one file).
-- Creation-time filters use the primary key: ids are UUIDv7 of created_at.
CREATE TABLE linked_accounts (
	org_id      uuid NOT NULL,
	env         text NOT NULL,
	id          uuid NOT NULL,
	account_id  text NOT NULL,
	name        text NOT NULL,
	udf         jsonb NOT NULL DEFAULT '{}',
	data_key    bytea,
	credentials bytea,
	import_job  uuid,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id),
	CONSTRAINT linked_accounts_account_id_key UNIQUE (org_id, env, account_id)
);

-- Counting a million rows on every list is too slow, so each tenant keeps its
-- count in a few slots (spread so that concurrent writers do not all queue
-- on one row); the total is their sum.
CREATE TABLE account_counts (
	org_id uuid NOT NULL,
	env    text NOT NULL,
	slot   integer NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (org_id, env, slot)
);

CREATE TABLE audit_log (
	org_id     uuid NOT NULL,
	env        text NOT NULL,
	id         uuid NOT NULL,
	at         timestamptz NOT NULL,
	actor      text NOT NULL,
	action     text NOT NULL,
	account_id text NOT NULL,
	fields     jsonb NOT NULL, -- array of field names, never values
	PRIMARY KEY (org_id, env, id)
);
CREATE INDEX audit_log_account ON audit_log (org_id, env, account_id, id);

CREATE TABLE idempotency_keys (
	org_id       uuid NOT NULL,
	env          text NOT NULL,
	key          text NOT NULL,
	request_hash text NOT NULL,
	status       integer NOT NULL, -- 0 while the first request is in flight
	body         bytea,
	locked_until timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, key)
);
