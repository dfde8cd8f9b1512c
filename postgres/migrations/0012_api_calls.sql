-- The log of calls made to apps' APIs through linkd (issue 11), shown on
-- the account page. Never a body, a query string or a credential. The id
-- is a UUIDv7 of the call's start, so the newest-first reads and the
-- retention purge walk indexes by it instead of needing one on at.
CREATE TABLE api_calls (
	org_id      uuid NOT NULL,
	env         text NOT NULL,
	id          uuid NOT NULL,
	account_pk  uuid NOT NULL,
	slug        text NOT NULL,
	at          timestamptz NOT NULL,
	method      text NOT NULL,
	path        text NOT NULL,
	status      integer NOT NULL, -- 0 when the app never answered
	duration_us bigint NOT NULL,
	attempts    integer NOT NULL,
	error_type  text NOT NULL DEFAULT '', -- linkd's own failure
	PRIMARY KEY (id)
);
-- An account's calls, newest first, overall and per app.
CREATE INDEX api_calls_account ON api_calls (org_id, env, account_pk, id);
CREATE INDEX api_calls_account_slug ON api_calls (org_id, env, account_pk, slug, id);
