-- Dashboard users, their sessions, sign-in failures and first-run setup
-- codes. Everything a sign-in depends on is here, not in one process's
-- memory, so every instance sees the same sessions and the same counts.

CREATE TABLE users (
	id            uuid PRIMARY KEY,
	org_id        uuid NOT NULL REFERENCES orgs (id),
	email         text NOT NULL UNIQUE, -- lower case
	password_hash text NOT NULL,        -- argon2id, PHC string format
	created_at    timestamptz NOT NULL
);
CREATE INDEX users_org ON users (org_id);

-- Only the SHA-256 of a session's cookie secret is stored; env is the
-- environment the user is looking at.
CREATE TABLE dashboard_sessions (
	id         uuid PRIMARY KEY,
	hash       bytea NOT NULL UNIQUE,
	user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id     uuid NOT NULL,
	env        text NOT NULL CHECK (env IN ('test', 'production')),
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

-- One row per failed sign-in; key is email and client address.
CREATE TABLE login_failures (
	key text NOT NULL,
	at  timestamptz NOT NULL,
	id  uuid NOT NULL,
	PRIMARY KEY (key, at, id)
);

-- First-run codes (hashes only) that let the first user of an
-- organization be created from the browser.
CREATE TABLE setup_codes (
	hash       bytea PRIMARY KEY,
	org_id     uuid NOT NULL REFERENCES orgs (id),
	expires_at timestamptz NOT NULL
);

-- Work on many accounts (bulk delete) that any instance may run: claimed
-- under a lease, progress committed batch by batch. selection is JSON
-- (linkd.BulkSelection).
CREATE TABLE bulk_jobs (
	id          uuid PRIMARY KEY,
	org_id      uuid NOT NULL,
	env         text NOT NULL,
	actor       text NOT NULL,
	kind        text NOT NULL,
	selection   jsonb NOT NULL,
	state       text NOT NULL,
	error       text NOT NULL DEFAULT '',
	total       bigint NOT NULL,
	done        bigint NOT NULL DEFAULT 0,
	failed      bigint NOT NULL DEFAULT 0,
	cursor      text NOT NULL DEFAULT '',
	lease_owner text,
	lease_until timestamptz,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	finished_at timestamptz
);
CREATE INDEX bulk_jobs_claim ON bulk_jobs (state, id);
