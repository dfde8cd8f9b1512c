package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// importPendingList is how large, in kB, an import's batches let the
// pending list of the search index (GIN, pg_trgm) grow: 64 MiB instead of
// the server's default of 4 MiB. Each row adds some fifty trigrams, so at
// the default a batch of 2,000 rows filled the list every other batch, and
// the batch that did paid for merging it into the index: a walk over the
// posting trees of every trigram in the list, most of them touched again
// by the next merge. Merging sixteen times as many entries at a time
// touches each tree about sixteen times less often. The list is kept in
// the index itself (durable, seen by every session); searches read it
// sequentially, which FinishImportJob bounds by cleaning it at the end.
const importPendingList = "65536"

// findSearchIndex records whether the search index exists: only then do
// imports set its pending list, a setting that PostgreSQL-compatible
// databases without GIN may not know.
func (s *Store) findSearchIndex(ctx context.Context) error {
	return s.pool.QueryRow(ctx, `SELECT to_regclass('linked_accounts_search') IS NOT NULL`).Scan(&s.searchGIN)
}

// growSearchPending lets the search index's pending list grow to
// importPendingList for the rest of tx.
func (s *Store) growSearchPending(ctx context.Context, tx pgx.Tx) error {
	if !s.searchGIN {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT set_config('gin_pending_list_limit', '`+importPendingList+`', true)`)
	return err
}

// cleanSearchPending merges the search index's pending list into the index
// once an import has finished, so that searches do not read up to
// importPendingList of it sequentially until autovacuum gets to it. It is
// best effort, outside the import's transaction: the import has committed,
// and a later insert or vacuum cleans the list anyway.
func (s *Store) cleanSearchPending(ctx context.Context) {
	if !s.searchGIN {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	s.pool.Exec(ctx, `SELECT gin_clean_pending_list('linked_accounts_search')`)
}
