package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCached bounds the statement cache. The read queries are built from a
// handful of filter combinations, so it is never reached in practice; past
// it, queries are simply prepared each time.
const maxCached = 512

// reader runs read queries through prepared statements kept by SQL text:
// parsing a statement cost as much as running it for the small, hot reads
// (key lookup, get by id, a page of a list).
type reader struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newReader(db *sql.DB) *reader { return &reader{db: db, m: map[string]*sql.Stmt{}} }

func (r *reader) stmt(ctx context.Context, query string) (*sql.Stmt, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.m[query]; ok {
		return st, true
	}
	if len(r.m) >= maxCached {
		return nil, false
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, false // the plain call below reports the error
	}
	r.m[query] = st
	return st, true
}

// QueryContext implements querier.
func (r *reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := r.stmt(ctx, query); ok {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, query, args...)
}

// QueryRowContext implements querier.
func (r *reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := r.stmt(ctx, query); ok {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

func (r *reader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		st.Close()
	}
}

// writeStmts keeps the write transactions' statements prepared on the
// writer's connection from one transaction to the next. A wtx prepares
// each statement once per transaction, which group commit shares among
// the requests that queued together; but when few queue (light load, or
// a mix of many kinds of write) most transactions hold one or two
// requests, and parsing their statements cost as much as running them. A
// statement cannot be prepared on the writer pool while its one
// connection is inside a transaction, so a transaction notes the ones it
// had to prepare itself, and runGroup prepares them on the pool after its
// commit; later transactions bind them to themselves (Tx.StmtContext),
// which reuses what the connection already prepared. Only the writer's
// goroutine uses it.
type writeStmts struct {
	db     *sql.DB
	m      map[string]*sql.Stmt
	wanted []string
}

func newWriteStmts(db *sql.DB) *writeStmts { return &writeStmts{db: db, m: map[string]*sql.Stmt{}} }

// get returns query prepared on the pool, or nil (and notes it as wanted,
// unless it failed to prepare before).
func (w *writeStmts) get(query string) *sql.Stmt {
	if st, ok := w.m[query]; ok {
		return st
	}
	if len(w.m)+len(w.wanted) < maxCached {
		w.wanted = append(w.wanted, query)
	}
	return nil
}

// prepareWanted prepares the statements transactions asked for; the
// writer's connection must be free.
func (w *writeStmts) prepareWanted(ctx context.Context) {
	for _, q := range w.wanted {
		if _, ok := w.m[q]; ok {
			continue
		}
		st, err := w.db.PrepareContext(ctx, q)
		if err != nil {
			st = nil // not tried again: the transaction's own prepare reports it
		}
		w.m[q] = st
	}
	w.wanted = w.wanted[:0]
}

func (w *writeStmts) close() {
	for _, st := range w.m {
		if st != nil {
			st.Close()
		}
	}
}
