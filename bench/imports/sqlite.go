package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
)

// sqliteEngine makes each database as a new file in one temporary directory.
type sqliteEngine struct {
	dir string
	cli string // the sqlite3 command line shell, for the floor
}

func (e *sqliteEngine) Name() string { return "sqlite" }

func removeDB(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *sqliteEngine) Open(ctx context.Context, label string) (linkd.Store, func() error, error) {
	path := filepath.Join(e.dir, label+".db")
	if err := removeDB(path); err != nil {
		return nil, nil, err
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	return s, func() error { return errors.Join(s.Close(), removeDB(path)) }, nil
}

func (e *sqliteEngine) Version(ctx context.Context, s linkd.Store) string {
	_, read := s.(*sqlite.Store).DBs()
	var v string
	if err := read.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return "SQLite (version unknown) (modernc.org/sqlite)"
	}
	return "SQLite " + v + " (modernc.org/sqlite, pure Go)"
}

func (e *sqliteEngine) FloorVersion(ctx context.Context) string {
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

// sqliteFloorSchema is the bare table: the file's columns as text and a
// unique index on the id, in WAL mode like linkd's database. The CLI keeps
// the journal mode in the file, so setting it here holds for the import.
const sqliteFloorSchema = `PRAGMA journal_mode=WAL;
CREATE TABLE bare (linked_account_id TEXT, name TEXT, udf_plan TEXT, udf_seats TEXT, udf_region TEXT);
CREATE UNIQUE INDEX bare_linked_account_id ON bare (linked_account_id);`

// sqliteFloorPragmas are the per-connection settings of linkd's writer
// (sqlite/db.go) that matter to a bulk insert: no sync at each commit in WAL
// mode, and a 64 MiB page cache. The CLI would otherwise run with
// synchronous=FULL and a 2 MiB cache, a weaker floor.
var sqliteFloorPragmas = []string{"PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536"}

// Floor prepares a fresh database file with the bare table and returns the
// one command to time: the CLI's .import of the whole file (one transaction,
// the CLI's own CSV parser, prepared INSERT per row), then a check and a
// clean-up.
func (e *sqliteEngine) Floor(ctx context.Context, file, label string, rows int64) (*exec.Cmd, func() error, func() error, error) {
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

func (e *sqliteEngine) Close(context.Context) error { return nil }
