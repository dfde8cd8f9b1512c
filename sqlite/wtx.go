package sqlite

import (
	"context"
	"database/sql"

	"github.com/linkd-dev/linkd"
)

// wtx is a write transaction that prepares each distinct statement once and
// reuses it for the rest of the transaction. Group commit runs many
// requests' transactions as one, so under load a create's half-dozen small
// statements are parsed once per group instead of once per request (parsing
// cost as much as running them). The statements go with the transaction:
// they cannot be prepared on the writer pool while its one connection is
// inside it.
type wtx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt
	// kept, when not nil, holds statements prepared by earlier
	// transactions (stmtcache.go).
	kept  *writeStmts
	hooks *hookCache
	// marks are the kinds of background work the transaction made, which
	// the store signals once it commits (worksignal.go).
	marks linkd.WorkMarks
}

func newWtx(tx *sql.Tx, hooks *hookCache) *wtx {
	return &wtx{Tx: tx, stmts: map[string]*sql.Stmt{}, hooks: hooks}
}

// stmtHook, when set, is called as each statement of a write transaction
// starts (and with "BEGIN", "COMMIT" and "" around the transaction): the
// write-cost benchmark attributes the writer's time to statements by it.
// Production leaves it nil.
var stmtHook func(query string)

func (t *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	if stmtHook != nil {
		stmtHook(query)
	}
	if st, ok := t.stmts[query]; ok {
		return st
	}
	if len(t.stmts) >= maxCached {
		return nil
	}
	if t.kept != nil {
		if ks := t.kept.get(query); ks != nil {
			st := t.Tx.StmtContext(ctx, ks)
			t.stmts[query] = st
			return st
		}
	}
	st, err := t.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call reports the error
	}
	t.stmts[query] = st
	return st
}

// ExecContext runs query with a statement prepared once per transaction.
func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query with a statement prepared once per transaction.
func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query with a statement prepared once per transaction.
func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
