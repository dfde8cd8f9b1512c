-- Hosted connect links remember the session token that made them, so that
-- revoking the token (or spending it on a refresh) ends them in the same
-- transaction. NULL for a link made on the dashboard. No foreign key: a
-- link outlives its token's expiry by design (3 days against 24 hours),
-- only a revocation ends it.
ALTER TABLE connect_sessions ADD COLUMN session_id TEXT;
CREATE INDEX connect_sessions_session ON connect_sessions (org_id, env, session_id) WHERE session_id IS NOT NULL;
