-- Search (issue 14): the trigram index over a text of one word, and finer
-- statistics of it, so that a search across a space or a dash finds its
-- candidates through the index and the planner tells a common search from
-- a rare one.
--
-- pg_trgm takes trigrams within words only (runs of letters and digits).
-- A query such as "n pa" or "f-a5" gave it the trigrams of its fragments,
-- held by hundreds of thousands of accounts, and a search read most of the
-- table to recheck them (0.3–2.9 s at a million accounts). search_trgm is
-- linkd.TrigramText(search): every other character spelled out in letters
-- and digits, so the whole text is one word and every trigram of a query
-- counts. The store writes it with search and tests search as well.
--
-- The planner serves a search from the index (every match found, then
-- sorted by id) or by reading the tenant in id order until a page has
-- matched; it estimates how many rows match from the column's histogram,
-- whose default 100 buckets read anything rarer than about 1 % as matching
-- nothing. A thousand buckets see down to about 0.1 %; ANALYZE samples
-- 300,000 rows instead of 30,000.
--
-- The store's Go step for this version fills the column and builds the
-- index (when pg_trgm is there, as in 0019) once it is filled.
ALTER TABLE linked_accounts ADD COLUMN search_trgm text;
ALTER TABLE linked_accounts ALTER COLUMN search_trgm SET STATISTICS 1000;
DROP INDEX IF EXISTS linked_accounts_search;
