-- PostgreSQL's migration 0029 gives the planner finer statistics of the
-- search text. SQLite chooses between the search index and a scan in the
-- store (searchProbe in search.go) and needs nothing here; this keeps the
-- two engines' migrations numbered alike.
SELECT 1;
