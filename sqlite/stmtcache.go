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
