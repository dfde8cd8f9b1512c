-- Idempotency records are the caller's own (issue 9, item 8): keyed by
-- tenant, caller (API key, or a session token's account), method, path and
-- key. The body is sealed under a data key of the record's own (item 11),
-- and account_id names the linked account whose data the stored response
-- holds, so that deleting the account deletes it (item 9). The old records
-- are dropped: they last 24 hours, and a retry after the upgrade acts anew.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
	org_id       uuid NOT NULL,
	env          text NOT NULL,
	caller       text NOT NULL,
	method       text NOT NULL,
	path         text NOT NULL,
	key          text NOT NULL,
	request_hash text NOT NULL,
	status       integer NOT NULL, -- 0 while the first request is in flight
	account_id   text,
	data_key     bytea,
	body         bytea,
	locked_until timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (org_id, env, caller, method, path, key)
);
CREATE INDEX idempotency_keys_account ON idempotency_keys (org_id, env, account_id) WHERE account_id IS NOT NULL;

-- Settings of a tenant that its API key changes (item 10). One row per
-- tenant once anything is set; absent means every setting's default.
CREATE TABLE tenant_settings (
	org_id                   uuid NOT NULL,
	env                      text NOT NULL,
	session_token_may_rename boolean NOT NULL DEFAULT false,
	updated_at               timestamptz NOT NULL,
	PRIMARY KEY (org_id, env)
);
