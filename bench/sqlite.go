package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
)

// sqliteEngine makes its databases as files in the run's temporary
// directory.
type sqliteEngine struct {
	dir string
	cli string // the sqlite3 command line shell, for the import floor
	dbs []*database
}

func newSQLiteEngine(dir, cli string) *sqliteEngine {
	return &sqliteEngine{dir: dir, cli: cli}
}

func (e *sqliteEngine) Name() string { return "sqlite" }

// removeDB deletes a database file and its WAL and shared-memory files.
func removeDB(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *sqliteEngine) Open(ctx context.Context, label string) (*database, error) {
	path := filepath.Join(e.dir, label+".db")
	if err := removeDB(path); err != nil {
		return nil, err
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	db := &database{store: s, dsn: path, drop: func() error { return errors.Join(s.Close(), removeDB(path)) }}
	e.dbs = append(e.dbs, db)
	return db, nil
}

func (e *sqliteEngine) Version(ctx context.Context, db *database) string {
	_, read := db.store.(*sqlite.Store).DBs()
	var v string
	if err := read.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return "SQLite (version unknown)"
	}
	return "SQLite " + v + " (modernc.org/sqlite, pure Go)"
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

// Seed writes multi-row INSERTs in transactions of 10,000 accounts (and
// their connections) on the store's single write connection.
func (e *sqliteEngine) Seed(ctx context.Context, db *database, t linkd.Tenant, n, cursorAt int, progress func(int)) (string, error) {
	w, _ := db.store.(*sqlite.Store).DBs()
	conn, err := w.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	const txRows, stmtRows = 10_000, 500
	const accountCols = "org_id, env, id, account_id, name, udf, data_key, connected_apps, created_at, updated_at, search, search_rowid"
	const connCols = "org_id, env, id, account_pk, slug, auth_type, status, credentials, created_at, updated_at"
	var counts [countSlots]int64
	var cursorID string
	stmts := map[string]string{}
	// insert writes the rows whose values are args, in order, into table.
	insert := func(tx *sql.Tx, table, cols string, args []any) error {
		k := strings.Count(cols, ",") + 1
		key := table + " " + strconv.Itoa(len(args)/k)
		if stmts[key] == "" {
			stmts[key] = `INSERT INTO ` + table + ` (` + cols + `) VALUES ` + rowsSQL(len(args)/k, k)
		}
		if _, err := tx.ExecContext(ctx, stmts[key], args...); err != nil {
			return fmt.Errorf("seed %s: %w", table, err)
		}
		return nil
	}
	for start := 0; start < n; start += txRows {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return "", err
		}
		var conns []any
		for s := start; s < min(start+txRows, n); s += stmtRows {
			m := min(stmtRows, n-s, start+txRows-s)
			args := make([]any, 0, 12*m)
			for i := s; i < s+m; i++ {
				a := newSeedAccount(i)
				if i+1 == cursorAt {
					cursorID = a.id.String()
				}
				created := a.created.UnixMicro()
				// The search text and index row as the store writes them
				// (sqlite/search.go); the triggers index both.
				args = append(args, t.OrgID, string(t.Env), a.id.String(), a.accountID, a.name, a.udf, a.dataKey, a.connectedApps, created, created,
					linkd.SearchText(a.accountID, a.name), sqlite.SearchKey(a.id.String()))
				if c := a.conn; c != nil {
					conns = append(conns, t.OrgID, string(t.Env), c.id.String(), a.id.String(), seedApp, linkd.AuthKeyBased, linkd.ConnActive,
						c.credentials, created, created)
				}
				counts[countSlot(a.accountID)]++
			}
			if err := insert(tx, "linked_accounts", accountCols, args); err != nil {
				tx.Rollback()
				return "", err
			}
		}
		if len(conns) > 0 {
			if err := insert(tx, "connections", connCols, conns); err != nil {
				tx.Rollback()
				return "", err
			}
		}
		// The triggers queued the accounts' search text; the store's
		// transactions hand the queue to the index before they commit
		// (sqlite/searchqueue.go), and so does this one.
		for _, q := range []string{`INSERT INTO account_search (account_search, rowid, search)
			SELECT del, search_rowid, search FROM search_queue ORDER BY search_rowid, seq`, `DELETE FROM search_queue`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				tx.Rollback()
				return "", fmt.Errorf("seed search index: %w", err)
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
	// The app's count of connected accounts, as the store keeps it.
	if _, err := tx.ExecContext(ctx, `INSERT INTO app_counts (org_id, env, slug, n) VALUES (?, ?, ?, ?)`,
		t.OrgID, string(t.Env), seedApp, seedConnections(n)); err != nil {
		tx.Rollback()
		return "", err
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

func (e *sqliteEngine) ImportFloorVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, e.cli, "-version").Output()
	if err != nil {
		return "sqlite3 (version unknown)"
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "sqlite3"
	}
	return "sqlite3 CLI " + f[0] + " (C)"
}

// sqliteFloorSchema is the import floor's bare table: the file's columns as
// text and a unique index on the id, in WAL mode like linkd's database. The
// CLI keeps the journal mode in the file, so setting it here holds for the
// import.
const sqliteFloorSchema = `PRAGMA journal_mode=WAL;
CREATE TABLE bare (linked_account_id TEXT, name TEXT, udf_plan TEXT, udf_seats TEXT, udf_region TEXT);
CREATE UNIQUE INDEX bare_linked_account_id ON bare (linked_account_id);`

// sqliteFloorPragmas are the per-connection settings of linkd's writer
// (sqlite/db.go) that matter to a bulk insert: no sync at each commit in WAL
// mode, and a 64 MiB page cache. The CLI would otherwise run with
// synchronous=FULL and a 2 MiB cache, a weaker floor.
var sqliteFloorPragmas = []string{"PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536"}

// ImportFloor prepares a fresh database file with the bare table and
// returns the one command to time: the CLI's .import of the whole file (one
// transaction, the CLI's own CSV parser, prepared INSERT per row), then a
// check and a clean-up.
func (e *sqliteEngine) ImportFloor(ctx context.Context, file, label string, rows int64) (*exec.Cmd, func() error, func() error, error) {
	path := filepath.Join(e.dir, label+".db")
	if err := removeDB(path); err != nil {
		return nil, nil, nil, err
	}
	if out, err := exec.CommandContext(ctx, e.cli, path, sqliteFloorSchema).CombinedOutput(); err != nil {
		return nil, nil, nil, fmt.Errorf("floor schema: %v: %s", err, out)
	}
	args := []string{"-bail"}
	for _, p := range sqliteFloorPragmas {
		args = append(args, "-cmd", p)
	}
	args = append(args, path, ".import --csv --skip 1 "+file+" bare")
	cmd := exec.CommandContext(ctx, e.cli, args...)
	check := func() error {
		out, err := exec.CommandContext(ctx, e.cli, path, "SELECT count(*) FROM bare").CombinedOutput()
		if err != nil {
			return fmt.Errorf("floor count: %v: %s", err, out)
		}
		if n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); n != rows {
			return fmt.Errorf("floor imported %s rows, want %d", strings.TrimSpace(string(out)), rows)
		}
		return nil
	}
	return cmd, check, func() error { return removeDB(path) }, nil
}

// Close drops the databases; the files of the import floor are removed
// with the run's temporary directory.
func (e *sqliteEngine) Close() error {
	var errs []error
	for _, db := range e.dbs {
		errs = append(errs, db.Drop())
	}
	return errors.Join(errs...)
}
