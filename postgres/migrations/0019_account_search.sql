-- Search (issue 14): a substring of an account's id or name, found through
-- a pg_trgm index instead of an ILIKE over every row.
--
-- search is linkd.SearchText(account_id, name): both folded in Go (Unicode
-- case folding, the same as the SQLite store's; LOWER here would depend on
-- the database's locale) and joined by a newline, which neither may hold.
-- The store writes it with every insert and rename (COPY included); rows of
-- accounts made before this migration get theirs from the store's Go step
-- for this version, in the same transaction.
--
-- pg_trgm is an accelerator only. Where it cannot be created (not
-- installed, or a role that may not create it), the migration goes on
-- without the index and a search reads the tenant's accounts in id order,
-- testing each: correct, but its cost grows with the tenant. Creating the
-- extension and the index later (as below) makes search fast again, with
-- no change to linkd.
ALTER TABLE linked_accounts ADD COLUMN search text;

DO $$
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'pg_trgm is not available (%): account search reads every account of a tenant', SQLERRM;
END $$;

DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		CREATE INDEX linked_accounts_search ON linked_accounts USING gin (search gin_trgm_ops);
	END IF;
END $$;
