package sqlite

import (
	"context"
	"fmt"
)

// applySearchQueue writes the search index changes the transaction queued
// (migration 0032) into the index, as one statement, and empties the
// queue. Every write transaction runs it last, before its commit, so the
// index the commit publishes is the one the triggers describe.
//
// FTS5 keeps the rows it is given in memory and writes them as one new
// segment at the next savepoint or commit, or sooner when a rowid comes
// lower than the one before (or again after an addition): the queue is
// applied in rowid order, each rowid's changes in the order they were
// made, which leaves the index as applying them in that order would (a
// change of one rowid never touches another's rows). A transaction of 30
// creates and renames makes one segment instead of 30.
func applySearchQueue(ctx context.Context, tx *wtx) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO account_search (account_search, rowid, search)
		SELECT del, search_rowid, search FROM search_queue ORDER BY search_rowid, seq`)
	if err != nil {
		return fmt.Errorf("apply search index changes: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM search_queue`); err != nil {
		return fmt.Errorf("apply search index changes: %w", err)
	}
	return nil
}
