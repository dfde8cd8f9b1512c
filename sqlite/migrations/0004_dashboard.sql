-- Dashboard users, their sessions, sign-in failures and first-run setup
-- codes. Everything a sign-in depends on is here, not in one process's
-- memory, so every instance sees the same sessions and the same counts.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	org_id        TEXT NOT NULL REFERENCES orgs (id),
	email         TEXT NOT NULL UNIQUE, -- lower case
	password_hash TEXT NOT NULL,        -- argon2id, PHC string format
	created_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX users_org ON users (org_id);

-- Only the SHA-256 of a session's cookie secret is stored; env is the
-- environment the user is looking at.
CREATE TABLE dashboard_sessions (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id     TEXT NOT NULL,
	env        TEXT NOT NULL CHECK (env IN ('test', 'production')),
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

-- One row per failed sign-in; key is email and client address.
CREATE TABLE login_failures (
	key TEXT NOT NULL,
	at  INTEGER NOT NULL,
	id  TEXT NOT NULL,
	PRIMARY KEY (key, at, id)
) WITHOUT ROWID;

-- First-run codes (hashes only) that let the first user of an
-- organization be created from the browser.
CREATE TABLE setup_codes (
	hash       BLOB PRIMARY KEY,
	org_id     TEXT NOT NULL REFERENCES orgs (id),
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Work on many accounts (bulk delete) that any instance may run: claimed
-- under a lease, progress committed batch by batch. selection is JSON
-- (linkd.BulkSelection).
CREATE TABLE bulk_jobs (
	id          TEXT PRIMARY KEY,
	org_id      TEXT NOT NULL,
	env         TEXT NOT NULL,
	actor       TEXT NOT NULL,
	kind        TEXT NOT NULL,
	selection   TEXT NOT NULL,
	state       TEXT NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	total       INTEGER NOT NULL,
	done        INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	cursor      TEXT NOT NULL DEFAULT '',
	lease_owner TEXT,
	lease_until INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	finished_at INTEGER
) WITHOUT ROWID;
CREATE INDEX bulk_jobs_claim ON bulk_jobs (state, id);
