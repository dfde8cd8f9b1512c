-- SQLite's migration 0032 queues the changes of its FTS5 search index and
-- applies them once per write transaction. PostgreSQL's trigram index is a
-- GIN index kept by PostgreSQL itself: nothing to do here; this keeps the
-- two engines' migrations numbered alike.
SELECT 1;
