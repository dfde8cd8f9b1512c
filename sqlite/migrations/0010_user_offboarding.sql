-- Offboarding dashboard users and sign-in throttles reserved before the
-- password is hashed (issue 9, items 2, 3 and 5).

-- A disabled user cannot sign in; its sessions are deleted when it is
-- disabled, and the session lookup ignores it besides.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- One row per throttle key ("email:…" or "ip:…"): attempts reserved and
-- not given back, the first and the latest. Replaces login_failures, which
-- was counted after hashing and so let parallel guesses through.
DROP TABLE login_failures;
CREATE TABLE login_throttles (
	key      TEXT PRIMARY KEY,
	attempts INTEGER NOT NULL,
	first_at INTEGER NOT NULL,
	last_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_throttles_last ON login_throttles (last_at);
