-- PostgreSQL's migration 0029 indexes the search text by trigrams of one
-- word and gives the planner finer statistics of it. SQLite's FTS5 trigram
-- index already takes every trigram, and the store chooses between it and
-- a scan (searchProbe in search.go): nothing to do here; this keeps the two
-- engines' migrations numbered alike.
SELECT 1;
