-- Hosted connect links remember the session token that made them, so that
-- revoking the token (or spending it on a refresh) ends them in the same
-- transaction. NULL for a link made on the dashboard. No foreign key: a
-- link outlives its token's expiry by design (3 days against 24 hours),
-- only a revocation ends it.
ALTER TABLE connect_sessions ADD COLUMN session_id uuid;
CREATE INDEX connect_sessions_session ON connect_sessions (org_id, env, session_id) WHERE session_id IS NOT NULL;

-- An OAuth flow remembers the browser that started it at linkd (the
-- SHA-256 of a cookie's secret; NULL when linkd never saw that browser)
-- and the origin of the page that asked for its consent URL, which alone
-- the callback page tells the outcome.
ALTER TABLE oauth_states ADD COLUMN browser_hash bytea;
ALTER TABLE oauth_states ADD COLUMN origin text NOT NULL DEFAULT '';
