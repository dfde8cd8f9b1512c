-- The search index is written once per write transaction instead of once
-- per statement (issue 16). FTS5 keeps the index rows of a transaction in
-- memory until the next savepoint, and SQLite opens one around nearly every
-- write statement of a transaction (and group commit one around each
-- request), so each account written became an index segment of its own,
-- which FTS5's merges then rewrote again and again, and which made every
-- secure delete look in one segment more. Now the triggers only note each
-- change in search_queue, a plain table, and the store applies the queue
-- to the index in one statement at the end of each write transaction and
-- empties it (sqlite/searchqueue.go): the queue is empty at every commit,
-- and the index is what the triggers made it before. del is 'delete' for
-- the removal of an old text, NULL for an addition, as the index's own
-- special column takes them.
CREATE TABLE search_queue (
	seq          INTEGER PRIMARY KEY,
	del          TEXT,
	search_rowid INTEGER NOT NULL,
	search       TEXT NOT NULL
);

DROP TRIGGER linked_accounts_search_insert;
DROP TRIGGER linked_accounts_search_update;
DROP TRIGGER linked_accounts_search_delete;

CREATE TRIGGER linked_accounts_search_insert AFTER INSERT ON linked_accounts
WHEN new.search IS NOT NULL BEGIN
	INSERT INTO search_queue (del, search_rowid, search) VALUES (NULL, new.search_rowid, new.search);
END;

CREATE TRIGGER linked_accounts_search_update AFTER UPDATE OF search ON linked_accounts
WHEN new.search IS NOT old.search BEGIN
	INSERT INTO search_queue (del, search_rowid, search) SELECT 'delete', old.search_rowid, old.search WHERE old.search IS NOT NULL;
	INSERT INTO search_queue (del, search_rowid, search) SELECT NULL, new.search_rowid, new.search WHERE new.search IS NOT NULL;
END;

CREATE TRIGGER linked_accounts_search_delete AFTER DELETE ON linked_accounts
WHEN old.search IS NOT NULL BEGIN
	INSERT INTO search_queue (del, search_rowid, search) VALUES ('delete', old.search_rowid, old.search);
END;

-- Merge at two segments a level instead of FTS5's four: every write
-- transaction that creates accounts adds a segment, and a secure delete
-- seeks each of its trigrams in every segment. In the soak's mix of writes
-- (creates, renames, deletes 3:2:1, 64 callers) the writer's time per
-- write fell 8–16 % at 10,000 and 100,000 accounts; imports and searches
-- did not move (docs/BENCHMARKS.md). Index pages stay at FTS5's 4,050
-- bytes: 1,000-byte pages made deletes cheaper in a store-level benchmark,
-- but halved the soak's maximum on a tenant of 50,000 imported accounts.
INSERT INTO account_search (account_search, rank) VALUES ('automerge', 2);
