-- Times are unix microseconds. Tables that are read by tenant are clustered
-- on (org_id, env, …) with WITHOUT ROWID, so one tenant's rows sit together
-- and every lookup starts from the tenant.

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE orgs (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	org_id       TEXT NOT NULL REFERENCES orgs (id),
	env          TEXT NOT NULL CHECK (env IN ('test', 'production')),
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- udf is a JSON object from key to {"v": value, "c": created, "u": updated}
-- (see linkd.EncodeUDF): one row per account keeps bulk imports cheap.
-- data_key is made when the first secret is stored. import_job marks the last
-- import that wrote the row (it detects repeated ids within one file).
-- Creation-time filters use the primary key: ids are UUIDv7 of created_at.
CREATE TABLE linked_accounts (
	org_id      TEXT NOT NULL,
	env         TEXT NOT NULL,
	id          TEXT NOT NULL,
	account_id  TEXT NOT NULL,
	name        TEXT NOT NULL,
	udf         TEXT NOT NULL DEFAULT '{}',
	data_key    BLOB,
	credentials BLOB,
	import_job  TEXT,
	connected_apps INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id)
) WITHOUT ROWID;
-- Named, so that batch lookups can insist on it (INDEXED BY): without
-- statistics the planner may prefer scanning the tenant by primary key.
CREATE UNIQUE INDEX linked_accounts_account_id ON linked_accounts (org_id, env, account_id);

-- Counting a million rows on every list is too slow, so each tenant keeps its
-- count in a few slots (spread so concurrent writers on PostgreSQL do not all
-- queue on one row); the total is their sum.
CREATE TABLE account_counts (
	org_id TEXT NOT NULL,
	env    TEXT NOT NULL,
	slot   INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, slot)
) WITHOUT ROWID;

CREATE TABLE audit_log (
	org_id     TEXT NOT NULL,
	env        TEXT NOT NULL,
	id         TEXT NOT NULL,
	at         INTEGER NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	account_id TEXT NOT NULL,
	fields     TEXT NOT NULL, -- JSON array of field names, never values
	details    TEXT NOT NULL DEFAULT '{}', -- JSON object, e.g. an import's counts
	PRIMARY KEY (org_id, env, id)
) WITHOUT ROWID;
CREATE INDEX audit_log_account ON audit_log (org_id, env, account_id, id);

CREATE TABLE idempotency_keys (
	org_id       TEXT NOT NULL,
	env          TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status       INTEGER NOT NULL, -- 0 while the first request is in flight
	body         BLOB,
	locked_until INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, key)
) WITHOUT ROWID;

-- Import jobs of any tenant are claimed by state, oldest first; a tenant
-- lists its own newest first.
CREATE TABLE import_jobs (
	id             TEXT PRIMARY KEY,
	org_id         TEXT NOT NULL,
	env            TEXT NOT NULL,
	actor          TEXT NOT NULL,
	file_name      TEXT NOT NULL,
	mode           TEXT NOT NULL,
	dry_run        INTEGER NOT NULL,
	state          TEXT NOT NULL,
	error          TEXT NOT NULL DEFAULT '',
	size_bytes     INTEGER NOT NULL DEFAULT 0,
	columns        TEXT NOT NULL DEFAULT '[]',
	rows_total     INTEGER NOT NULL DEFAULT 0,
	byte_offset    INTEGER NOT NULL DEFAULT 0,
	rows_processed INTEGER NOT NULL DEFAULT 0,
	created        INTEGER NOT NULL DEFAULT 0,
	updated        INTEGER NOT NULL DEFAULT 0,
	unchanged      INTEGER NOT NULL DEFAULT 0,
	failed         INTEGER NOT NULL DEFAULT 0,
	lease_owner    TEXT,
	lease_until    INTEGER,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	started_at     INTEGER,
	finished_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX import_jobs_tenant ON import_jobs (org_id, env, id);
CREATE INDEX import_jobs_claim ON import_jobs (state, id);

-- The uploaded file, in pieces of linkd.ImportChunkSize; deleted when the
-- job ends. A rowid table: the rows are large.
CREATE TABLE import_chunks (
	job_id TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	data   BLOB NOT NULL,
	PRIMARY KEY (job_id, seq)
);

CREATE TABLE import_errors (
	job_id     TEXT NOT NULL,
	row        INTEGER NOT NULL,
	col        TEXT NOT NULL,
	account_id TEXT NOT NULL,
	message    TEXT NOT NULL,
	PRIMARY KEY (job_id, row)
) WITHOUT ROWID;

-- Session tokens act for one linked account; only hashes are stored. They
-- go with their account (DeleteAccount deletes them).
CREATE TABLE session_tokens (
	id                 TEXT PRIMARY KEY,
	org_id             TEXT NOT NULL,
	env                TEXT NOT NULL,
	account_pk         TEXT NOT NULL,
	hash               BLOB NOT NULL UNIQUE,
	refresh_hash       BLOB NOT NULL UNIQUE,
	expires_at         INTEGER NOT NULL,
	refresh_expires_at INTEGER NOT NULL,
	revoked_at         INTEGER,
	created_at         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX session_tokens_account ON session_tokens (org_id, env, account_pk);

-- A linked account's connection to one app. credentials are sealed with the
-- account's data key. The refresher finds active OAuth connections by the
-- expiry of their access token.
CREATE TABLE connections (
	org_id              TEXT NOT NULL,
	env                 TEXT NOT NULL,
	id                  TEXT NOT NULL,
	account_pk          TEXT NOT NULL,
	slug                TEXT NOT NULL,
	auth_type           TEXT NOT NULL,
	identifier          TEXT NOT NULL DEFAULT '',
	status              TEXT NOT NULL,
	credentials         BLOB,
	token_expires_at    INTEGER,
	refresh_failures    INTEGER NOT NULL DEFAULT 0,
	last_refresh_at     INTEGER,
	last_refresh_error  TEXT NOT NULL DEFAULT '',
	refresh_lease_owner TEXT,
	refresh_lease_until INTEGER,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX connections_account ON connections (org_id, env, account_pk, slug, auth_type);
CREATE INDEX connections_slug ON connections (org_id, env, slug, account_pk);
CREATE INDEX connections_expiry ON connections (token_expires_at) WHERE status = 'active' AND token_expires_at IS NOT NULL;

-- Tokens to revoke at their providers, each sealed under its own data key;
-- a row is deleted (and with it the token) once revoked or given up on.
CREATE TABLE revocations (
	id          TEXT PRIMARY KEY,
	org_id      TEXT NOT NULL,
	env         TEXT NOT NULL,
	account_id  TEXT NOT NULL,
	slug        TEXT NOT NULL,
	token       BLOB NOT NULL,
	data_key    BLOB NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	lease_owner TEXT,
	lease_until INTEGER,
	created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX revocations_due ON revocations (next_at);

-- A tenant's setup of an app: enabled, and its own OAuth client credentials
-- (the secret sealed under a data key of its own).
CREATE TABLE app_settings (
	org_id        TEXT NOT NULL,
	env           TEXT NOT NULL,
	slug          TEXT NOT NULL,
	enabled       INTEGER NOT NULL,
	client_id     TEXT NOT NULL DEFAULT '',
	client_secret BLOB,
	data_key      BLOB,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, slug)
) WITHOUT ROWID;

-- OAuth authorizations in progress (single-use, short-lived); only the
-- state's hash is stored.
CREATE TABLE oauth_states (
	hash       BLOB PRIMARY KEY,
	org_id     TEXT NOT NULL,
	env        TEXT NOT NULL,
	account_pk TEXT NOT NULL,
	account_id TEXT NOT NULL,
	slug       TEXT NOT NULL,
	return_to  TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
