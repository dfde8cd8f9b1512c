-- The log of calls made to apps' APIs through linkd (issue 11), shown on
-- the account page. Never a body, a query string or a credential. The id
-- is a UUIDv7 of the call's start, so the newest-first reads and the
-- retention purge walk indexes by it instead of needing one on at.
CREATE TABLE api_calls (
	org_id      TEXT NOT NULL,
	env         TEXT NOT NULL,
	id          TEXT NOT NULL,
	account_pk  TEXT NOT NULL,
	slug        TEXT NOT NULL,
	at          INTEGER NOT NULL,
	method      TEXT NOT NULL,
	path        TEXT NOT NULL,
	status      INTEGER NOT NULL, -- 0 when the app never answered
	duration_us INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	error_type  TEXT NOT NULL DEFAULT '', -- linkd's own failure
	PRIMARY KEY (id)
) WITHOUT ROWID;
-- An account's calls, newest first, overall and per app.
CREATE INDEX api_calls_account ON api_calls (org_id, env, account_pk, id);
CREATE INDEX api_calls_account_slug ON api_calls (org_id, env, account_pk, slug, id);
