-- Idempotency records are the caller's own (issue 9, item 8): keyed by
-- tenant, caller (API key, or a session token's account), method, path and
-- key. The body is sealed under a data key of the record's own (item 11),
-- and account_id names the linked account whose data the stored response
-- holds, so that deleting the account deletes it (item 9). The old records
-- are dropped: they last 24 hours, and a retry after the upgrade acts anew.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
	org_id       TEXT NOT NULL,
	env          TEXT NOT NULL,
	caller       TEXT NOT NULL,
	method       TEXT NOT NULL,
	path         TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status       INTEGER NOT NULL, -- 0 while the first request is in flight
	account_id   TEXT,
	data_key     BLOB,
	body         BLOB,
	locked_until INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	PRIMARY KEY (org_id, env, caller, method, path, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_account ON idempotency_keys (org_id, env, account_id) WHERE account_id IS NOT NULL;

-- Settings of a tenant that its API key changes (item 10). One row per
-- tenant once anything is set; absent means every setting's default.
CREATE TABLE tenant_settings (
	org_id                   TEXT NOT NULL,
	env                      TEXT NOT NULL,
	session_token_may_rename INTEGER NOT NULL DEFAULT 0,
	updated_at               INTEGER NOT NULL,
	PRIMARY KEY (org_id, env)
) WITHOUT ROWID;
