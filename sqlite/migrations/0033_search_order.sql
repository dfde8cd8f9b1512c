-- The search index's rows follow the account order (issue 14, search at
-- 10M accounts): an account's search_rowid becomes a key of its id that
-- sorts as the id does (sqlite/searchkey.go), so that a page of a large
-- tenant is read from account_search in rowid order and stops after the
-- page's matches. The store's Go step for this version (rekeySearch) gives
-- every account its key and rebuilds the contentless index under the new
-- rowids, in this migration's transaction; nothing changes in the schema.
SELECT 1;
