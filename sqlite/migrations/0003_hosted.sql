-- Hosted connect page. A connect session is the credential of one hosted
-- URL ({PUBLIC_URL}/connect/{token}); only the SHA-256 of the token is
-- stored, with the JSON object of properties the caller gave (colours, a
-- name, redirect_url). Sessions go with their account: the foreign key
-- deletes them when the account is deleted.
CREATE TABLE connect_sessions (
	id         TEXT PRIMARY KEY,
	org_id     TEXT NOT NULL,
	env        TEXT NOT NULL,
	account_pk TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	config_id  TEXT NOT NULL DEFAULT '',
	properties TEXT NOT NULL DEFAULT '{}',
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	FOREIGN KEY (org_id, env, account_pk) REFERENCES linked_accounts (org_id, env, id) ON DELETE CASCADE
) WITHOUT ROWID;
-- Serves the cascade, an account's newest session and the sweep of its
-- expired ones.
CREATE INDEX connect_sessions_account ON connect_sessions (org_id, env, account_pk, created_at);

-- The web origins (scheme://host[:port], normalized) whose pages may act
-- for a tenant with a session token, frame the hosted page and be returned
-- to from it.
CREATE TABLE allowed_origins (
	org_id TEXT NOT NULL,
	env    TEXT NOT NULL,
	origin TEXT NOT NULL,
	PRIMARY KEY (org_id, env, origin)
) WITHOUT ROWID;
