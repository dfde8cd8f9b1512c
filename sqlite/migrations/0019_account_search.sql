-- Search (issue 14): a substring of an account's id or name, found through
-- an FTS5 trigram index instead of a LIKE over every row.
--
-- search is linkd.SearchText(account_id, name): both folded in Go (Unicode
-- case folding; SQLite's LOWER folds ASCII only) and joined by a newline,
-- which neither may hold. The store writes it with every insert and rename;
-- the triggers below carry it into the index, so that every write path
-- (API, import, delete, bulk delete) keeps the index right. Rows of
-- accounts made before this migration get theirs from the store's Go step
-- for this version, in the same transaction.
--
-- account_search is contentless (the text lives only in linked_accounts, and
-- the triggers hand a row's old text to the 'delete' command) without
-- column sizes (no ranking), which makes an insert about a third cheaper
-- than with contentless_delete; secure-delete removes a deleted account's
-- trigrams from the index at once instead of leaving them until a merge.
-- search_rowid links an account to its index row: linked_accounts has no
-- rowid of its own, and the store allocates one past the largest.
ALTER TABLE linked_accounts ADD COLUMN search TEXT;
ALTER TABLE linked_accounts ADD COLUMN search_rowid INTEGER;
CREATE UNIQUE INDEX linked_accounts_search_rowid ON linked_accounts (search_rowid);

CREATE VIRTUAL TABLE account_search USING fts5 (search, content = '', columnsize = 0,
	tokenize = 'trigram case_sensitive 1');
INSERT INTO account_search (account_search, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER linked_accounts_search_insert AFTER INSERT ON linked_accounts
WHEN new.search IS NOT NULL BEGIN
	INSERT INTO account_search (rowid, search) VALUES (new.search_rowid, new.search);
END;

CREATE TRIGGER linked_accounts_search_update AFTER UPDATE OF search ON linked_accounts
WHEN new.search IS NOT old.search BEGIN
	INSERT INTO account_search (account_search, rowid, search) SELECT 'delete', old.search_rowid, old.search WHERE old.search IS NOT NULL;
	INSERT INTO account_search (rowid, search) SELECT new.search_rowid, new.search WHERE new.search IS NOT NULL;
END;

CREATE TRIGGER linked_accounts_search_delete AFTER DELETE ON linked_accounts
WHEN old.search IS NOT NULL BEGIN
	INSERT INTO account_search (account_search, rowid, search) VALUES ('delete', old.search_rowid, old.search);
END;
