-- SQLite's migration 0033 re-keys its FTS5 search index so that its rows
-- follow the account order. PostgreSQL's trigram index has no row keys of
-- its own: nothing to do here; this keeps the two engines' migrations
-- numbered alike (both record the same versions, and the upgrade tests
-- compare them).
SELECT 1;
