package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
)

// sqliteEngine makes its databases as files in one temporary directory.
type sqliteEngine struct {
	dir string
	dbs []*database
}

func newSQLiteEngine(dir string) (*sqliteEngine, error) {
	d, err := os.MkdirTemp(dir, "linkd-bench-")
	if err != nil {
		return nil, err
	}
	return &sqliteEngine{dir: d}, nil
}

func (e *sqliteEngine) Name() string { return "sqlite" }

func (e *sqliteEngine) Open(ctx context.Context, label string) (*database, error) {
	path := filepath.Join(e.dir, label+".db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	db := &database{store: s, dsn: path, drop: func() error {
		errs := []error{s.Close()}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}}
	e.dbs = append(e.dbs, db)
	return db, nil
}

func (e *sqliteEngine) Version(ctx context.Context, db *database) string {
	_, read := db.store.(*sqlite.Store).DBs()
	var v string
	if err := read.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return "SQLite (version unknown)"
	}
	return "SQLite " + v + " (modernc.org/sqlite)"
}

// Floor inserts through the store's own write pool: the very connection
// (one, with the store's DSN and pragmas) that the product's creates use.
func (e *sqliteEngine) Floor(ctx context.Context, db *database, t linkd.Tenant) (http.Handler, func(), error) {
	w, _ := db.store.(*sqlite.Store).DBs()
	const insert = `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		row, err := decodeFloorRow(r)
		if err == nil {
			_, err = w.ExecContext(r.Context(), insert, t.OrgID, string(t.Env), row.id, row.accountID, row.name, row.udf,
				nil, nil, nil, row.now.UnixMicro(), row.now.UnixMicro())
		}
		floorReply(rw, row.id, err)
	})
	return h, func() {}, nil
}

// Seed writes multi-row INSERTs in transactions of 10,000 accounts on the
// store's single write connection.
func (e *sqliteEngine) Seed(ctx context.Context, db *database, t linkd.Tenant, n, cursorAt int, progress func(int)) (string, error) {
	w, _ := db.store.(*sqlite.Store).DBs()
	conn, err := w.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	const txRows, stmtRows = 10_000, 500
	var counts [countSlots]int64
	var cursorID string
	insert := map[int]string{}
	for start := 0; start < n; start += txRows {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return "", err
		}
		for s := start; s < min(start+txRows, n); s += stmtRows {
			m := min(stmtRows, n-s, start+txRows-s)
			args := make([]any, 0, 9*m)
			for i := s; i < s+m; i++ {
				a := newSeedAccount(i)
				if i+1 == cursorAt {
					cursorID = a.id.String()
				}
				created := a.created.UnixMicro()
				args = append(args, t.OrgID, string(t.Env), a.id.String(), a.accountID, a.name, a.udf, a.dataKey, created, created)
				counts[countSlot(a.accountID)]++
			}
			if insert[m] == "" {
				insert[m] = `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, created_at, updated_at) VALUES ` + rowsSQL(m, 9)
			}
			if _, err := tx.ExecContext(ctx, insert[m], args...); err != nil {
				tx.Rollback()
				return "", fmt.Errorf("seed accounts: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return "", err
		}
		progress(min(start+txRows, n))
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	for slot, c := range counts {
		if c == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, env, slot) DO UPDATE SET n = n + excluded.n`, t.OrgID, string(t.Env), slot, c); err != nil {
			tx.Rollback()
			return "", err
		}
	}
	if err := tx.Commit(); err != nil {
		return "", err
	}
	// Leave the database as a long-running server would find it: the WAL
	// folded back into the main file.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return "", err
	}
	return cursorID, nil
}

// rowsSQL returns n groups of k placeholders: "(?,?),(?,?)".
func rowsSQL(n, k int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", k), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

func (e *sqliteEngine) Size(ctx context.Context, db *database) int64 {
	var n int64
	for _, p := range []string{db.dsn, db.dsn + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func (e *sqliteEngine) Close() error {
	var errs []error
	for _, db := range e.dbs {
		errs = append(errs, db.Drop())
	}
	errs = append(errs, os.RemoveAll(e.dir))
	return errors.Join(errs...)
}
