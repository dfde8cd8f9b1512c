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
-- connected_apps counts the distinct apps of the account's connections, kept
-- by the statements that change them, so that lists show it at no cost.
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
	connected_apps integer NOT NULL DEFAULT 0,
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
	details    jsonb NOT NULL DEFAULT '{}', -- facts such as an import's counts
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

-- Import jobs of any tenant are claimed by state, oldest first (FOR UPDATE
-- SKIP LOCKED, so instances never wait on each other's claims); a tenant
-- lists its own newest first. columns is the file's header, a JSON array.
CREATE TABLE import_jobs (
	id             uuid PRIMARY KEY,
	org_id         uuid NOT NULL,
	env            text NOT NULL,
	actor          text NOT NULL,
	file_name      text NOT NULL,
	mode           text NOT NULL,
	dry_run        boolean NOT NULL,
	state          text NOT NULL,
	error          text NOT NULL DEFAULT '',
	size_bytes     bigint NOT NULL DEFAULT 0,
	columns        jsonb NOT NULL DEFAULT '[]',
	rows_total     bigint NOT NULL DEFAULT 0,
	byte_offset    bigint NOT NULL DEFAULT 0,
	rows_processed bigint NOT NULL DEFAULT 0,
	created        bigint NOT NULL DEFAULT 0,
	updated        bigint NOT NULL DEFAULT 0,
	unchanged      bigint NOT NULL DEFAULT 0,
	failed         bigint NOT NULL DEFAULT 0,
	lease_owner    text,
	lease_until    timestamptz,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	started_at     timestamptz,
	finished_at    timestamptz
);
CREATE INDEX import_jobs_tenant ON import_jobs (org_id, env, id);
CREATE INDEX import_jobs_claim ON import_jobs (state, id);

-- The uploaded file, in pieces of linkd.ImportChunkSize (TOASTed); deleted
-- when the job ends.
CREATE TABLE import_chunks (
	job_id uuid NOT NULL,
	seq    integer NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (job_id, seq)
);

CREATE TABLE import_errors (
	job_id     uuid NOT NULL,
	row        bigint NOT NULL,
	col        text NOT NULL,
	account_id text NOT NULL,
	message    text NOT NULL,
	PRIMARY KEY (job_id, row)
);

-- Session tokens act for one linked account; only hashes are stored. They
-- go with their account (DeleteAccount deletes them).
CREATE TABLE session_tokens (
	id                 uuid PRIMARY KEY,
	org_id             uuid NOT NULL,
	env                text NOT NULL,
	account_pk         uuid NOT NULL,
	hash               bytea NOT NULL UNIQUE,
	refresh_hash       bytea NOT NULL UNIQUE,
	expires_at         timestamptz NOT NULL,
	refresh_expires_at timestamptz NOT NULL,
	revoked_at         timestamptz,
	created_at         timestamptz NOT NULL
);
CREATE INDEX session_tokens_account ON session_tokens (org_id, env, account_pk);

-- A linked account's connection to one app. credentials are sealed with the
-- account's data key. The refresher finds active OAuth connections by the
-- expiry of their access token. slug and auth_type sort bytewise (COLLATE
-- "C"), as on SQLite, whatever the database's collation, and the account
-- index then serves a listing in that order.
CREATE TABLE connections (
	org_id              uuid NOT NULL,
	env                 text NOT NULL,
	id                  uuid NOT NULL,
	account_pk          uuid NOT NULL,
	slug                text COLLATE "C" NOT NULL,
	auth_type           text COLLATE "C" NOT NULL,
	identifier          text NOT NULL DEFAULT '',
	status              text NOT NULL,
	credentials         bytea,
	token_expires_at    timestamptz,
	refresh_failures    integer NOT NULL DEFAULT 0,
	last_refresh_at     timestamptz,
	last_refresh_error  text NOT NULL DEFAULT '',
	refresh_lease_owner text,
	refresh_lease_until timestamptz,
	created_at          timestamptz NOT NULL,
	updated_at          timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id)
);
CREATE UNIQUE INDEX connections_account ON connections (org_id, env, account_pk, slug, auth_type);
CREATE INDEX connections_slug ON connections (org_id, env, slug, account_pk);
CREATE INDEX connections_expiry ON connections (token_expires_at) WHERE status = 'active' AND token_expires_at IS NOT NULL;

-- Tokens to revoke at their providers, each sealed under its own data key;
-- a row is deleted (and with it the token) once revoked or given up on.
CREATE TABLE revocations (
	id          uuid PRIMARY KEY,
	org_id      uuid NOT NULL,
	env         text NOT NULL,
	account_id  text NOT NULL,
	slug        text NOT NULL,
	token       bytea NOT NULL,
	data_key    bytea NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	next_at     timestamptz NOT NULL,
	lease_owner text,
	lease_until timestamptz,
	created_at  timestamptz NOT NULL
);
CREATE INDEX revocations_due ON revocations (next_at);

-- A tenant's setup of an app: enabled, and its own OAuth client credentials
-- (the secret sealed under a data key of its own).
CREATE TABLE app_settings (
	org_id        uuid NOT NULL,
	env           text NOT NULL,
	slug          text NOT NULL,
	enabled       boolean NOT NULL,
	client_id     text NOT NULL DEFAULT '',
	client_secret bytea,
	data_key      bytea,
	updated_at    timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, slug)
);

-- OAuth authorizations in progress (single-use, short-lived); only the
-- state's hash is stored.
CREATE TABLE oauth_states (
	hash       bytea PRIMARY KEY,
	org_id     uuid NOT NULL,
	env        text NOT NULL,
	account_pk uuid NOT NULL,
	account_id text NOT NULL,
	slug       text NOT NULL,
	return_to  text NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
