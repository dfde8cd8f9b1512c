// Package sqlite implements linkd.Store on an embedded SQLite database
// (modernc.org/sqlite: pure Go, no cgo), the default for a single machine.
//
// SQLite allows one writer at a time, so the store keeps one connection for
// writes (transactions begin IMMEDIATE and queue in Go rather than failing
// with SQLITE_BUSY) beside a pool of read-only connections that WAL lets run
// concurrently with the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements linkd.Store.
type Store struct {
	write *sql.DB
	// udf chooses which UDF filter drives a list (account.go).
	udf  *linkd.UDFPlanner
	read *sql.DB
	// insertMany inserts insertRows accounts; prepared once, because parsing
	// a statement that long costs as much as running it.
	insertMany *sql.Stmt
	// r runs read queries through cached prepared statements.
	r *reader
	// writes feeds write transactions to group commit (groupcommit.go).
	writes  chan *writeReq
	stopped chan struct{}
	// wstmts keeps the write transactions' statements (stmtcache.go).
	wstmts *writeStmts
	// ckpt truncates the WAL after deletions (checkpoint.go).
	ckpt *checkpointer
	// merger merges the search index after large imports
	// (searchmerge.go).
	merger *searchMerger
	// total caches the number of accounts of all tenants (searchorder.go).
	total accountTotal
	// hooks knows which tenants have webhook endpoints (hookcache.go).
	hooks *hookCache
	// work is called after commits that made background work
	// (worksignal.go).
	work linkd.WorkListeners
	// lock is a shared lock on the file held while the store is open, so
	// that a restore does not replace the file under it (backup.go).
	lock *os.File
	// observer receives the writer's and the checkpointer's timings
	// (observe.go).
	observer observer
}

var _ linkd.Store = (*Store)(nil)

// dsn builds the connection string. busy_timeout comes first so that the
// other pragmas already wait instead of failing while another process holds
// a lock; secure_delete zeroes deleted rows in the file, so a deleted account
// does not linger in free pages.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers map up to 1 GiB of the file instead of copying each page
		// they read into a private cache through a system call: at a
		// million accounts, searches and UDF filters (which touch pages
		// all over the search and UDF indexes) ran 1.5–1.7 times as many
		// requests a second (docs/BENCHMARKS.md). The mapped pages are the
		// kernel's page cache, shared by the connections; they count in
		// RSS, so the memory alert watches anonymous memory instead.
		q.Add("_pragma", "mmap_size(1073741824)")
	} else {
		// The writer gets a larger page cache: bulk imports touch many index
		// pages, and there is one writer connection only. 32 MiB of pages
		// take about 64 MiB of memory, because modernc's allocator gives
		// each 4 KiB page (with its header) an 8 KiB slot; -65536 measured
		// +171 MiB of RSS during a 1M-row import (docs/BENCHMARKS-import.md).
		q.Add("_pragma", "cache_size(-32768)")
		// The checkpointer copies the WAL back (checkpoint.go); the
		// writer does only when it falls far behind.
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walBackstop)+")")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and applies pending
// migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	lock, err := useLock(path, lockShared)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("%s is being restored from a backup; try again once that is done", path)
	} else if err != nil {
		return nil, err
	}
	s, err := open(ctx, path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(ctx context.Context, path string) (*Store, error) {
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &Store{write: w, hooks: newHookCache()}
	s.udf = &linkd.UDFPlanner{Count: s.countUDF}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if s.insertMany, err = w.PrepareContext(ctx, insertAccountsSQL(insertRows)); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.read = r
	s.r = newReader(r)
	c, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	s.startGroupCommit()
	s.startCheckpointer(c)
	s.startSearchMerger()
	return s, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	s.stopSearchMerger()
	s.stopGroupCommit()
	ckpt := s.stopCheckpointer()
	s.r.close()
	return errors.Join(ckpt, s.insertMany.Close(), s.read.Close(), s.write.Close(), s.lock.Close())
}

// Ping implements linkd.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// DBs returns the write and read pools, for their metrics.
func (s *Store) DBs() (write, read *sql.DB) { return s.write, s.read }

// tx1 runs fn in a write transaction of its own, outside group commit (for
// migrations, which run before it starts).
func (s *Store) tx1(ctx context.Context, fn func(*wtx) error) (err error) {
	stx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := newWtx(stx, s.hooks)
	if err := call(fn, tx); err != nil {
		tx.Rollback()
		return err
	}
	// A migration from 0032 on may have queued search index changes.
	var queue bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'search_queue')`).Scan(&queue); err != nil {
		tx.Rollback()
		return err
	}
	if queue {
		if err := applySearchQueue(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction together with its record.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, math.MaxInt) }

// migrateTo applies the migrations up to version last: the schema of an
// older linkd, which upgrade tests fill and then migrate.
func (s *Store) migrateTo(ctx context.Context, last int) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	return linkd.Migrate(ctx, migrations, "migrations", func(ctx context.Context, m linkd.Migration) error {
		if m.Version > last {
			return nil
		}
		return s.tx1(ctx, func(tx *wtx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if step := afterMigration[m.Version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, micros(time.Now()))
			return err
		})
	})
}

// EnsureSetting implements linkd.Store.
func (s *Store) EnsureSetting(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored)
	})
	return stored, err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
