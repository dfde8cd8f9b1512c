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

CREATE TABLE linked_accounts (
	org_id      uuid NOT NULL,
	env         text NOT NULL,
	id          uuid NOT NULL,
	account_id  text NOT NULL,
	name        text NOT NULL,
	data_key    bytea NOT NULL,
	credentials bytea,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, id),
	CONSTRAINT linked_accounts_account_id_key UNIQUE (org_id, env, account_id)
);
CREATE INDEX linked_accounts_created ON linked_accounts (org_id, env, created_at);

-- key sorts in byte order (COLLATE "C"), as Go and SQLite sort it, whatever
-- the database's default collation.
CREATE TABLE account_udf (
	org_id     uuid NOT NULL,
	env        text NOT NULL,
	account_pk uuid NOT NULL,
	key        text COLLATE "C" NOT NULL,
	value      text NOT NULL, -- the JSON primitive as sent
	id         uuid NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, account_pk, key),
	FOREIGN KEY (org_id, env, account_pk) REFERENCES linked_accounts (org_id, env, id) ON DELETE CASCADE
);
-- Values may be up to 4 KiB, more than a B-tree entry holds (about 2.7 kB),
-- so the index keeps a prefix of each value; queries match on the prefix and
-- then on the whole value. 256 characters are at most 1 KiB of UTF-8, and
-- most values are shorter, so the index costs no more than one on value.
CREATE INDEX account_udf_match ON account_udf (org_id, env, key, left(value, 256), account_pk);

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
