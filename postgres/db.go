// Package postgres implements linkd.Store on PostgreSQL with pgx, for
// deployments that run several linkd instances or outgrow one machine.
//
// It behaves exactly like the sqlite store (the storetest contract pins that
// down) and stays portable to PostgreSQL-compatible distributed databases
// such as YugabyteDB: no extensions, no LISTEN/NOTIFY, no session advisory
// locks. Concurrency is left to row locks and unique constraints, and every
// transaction is retried when the database reports a serialization failure
// or a deadlock, which those databases do routinely under contention.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/linkd-dev/linkd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements linkd.Store. It holds nothing but the pool: all state is
// in the database, so any number of instances may share it.
type Store struct {
	pool *pgxpool.Pool
	// udf chooses which UDF filter drives a list (account.go).
	udf *linkd.UDFPlanner
	// sig signals the background loops of this and other instances
	// after commits that made work (worksignal.go).
	sig *signals
	// searchGIN tells whether the pg_trgm search index exists
	// (importsearch.go).
	searchGIN bool
}

var _ linkd.Store = (*Store)(nil)

// querier is what a pool and a transaction have in common, so that reads
// run either way.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to the database at url (a postgres:// URL or key=value
// string that pgx understands, pool settings included) and applies pending
// migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	// A page is a few index lookups; a parallel plan's workers take longer
	// to start than that. At a million accounts PostgreSQL chose a
	// parallel index scan for a UDF-filtered page (95 ms, of which 75 ms
	// starting the workers, against 5.5 ms without), so linkd's sessions
	// run without them unless the URL sets max_parallel_workers_per_gather.
	if _, set := cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"]; !set {
		cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as from the sqlite store, whatever the
		// time zone of the process or the session.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, sig: newSignals()}
	s.udf = &linkd.UDFPlanner{Count: s.countUDF}
	if err := s.migrate(ctx); err != nil {
		s.sig.close()
		pool.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	if err := s.findSearchIndex(ctx); err != nil {
		s.sig.close()
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.sig.close()
	s.pool.Close()
	return nil
}

// Ping implements linkd.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Stats reports the pool's statistics (connections in use, idle, waited
// for) so that the server can export them as metrics: a pool that runs dry
// shows up there before it shows up as latency.
func (s *Store) Stats() *pgxpool.Stat {
	return s.pool.Stat()
}

// maxAttempts bounds how often tx runs a transaction that keeps conflicting.
const maxAttempts = 5

// errRetry marks an error after which tx runs the transaction again from the
// start, as for a serialization failure: the conflict it reports (say, a
// row inserted by a concurrent transaction) is gone on a fresh read.
var errRetry = errors.New("conflict with a concurrent transaction")

// retryable reports whether the transaction that failed with err may succeed
// when run again.
func retryable(err error) bool {
	// serialization_failure, deadlock_detected
	return errors.Is(err, errRetry) || isCode(err, "40001", "40P01")
}

// tx runs fn in a transaction, committed when fn returns nil and rolled back
// on error or panic. It runs fn again, after a short random pause, when the
// transaction conflicted with another (see retryable), so fn must not have
// effects outside the transaction that cannot be repeated.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		// Full jitter over an exponential window (2, 4, 8, 16 ms) spreads
		// the retries of transactions that collided.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func (s *Store) tx1(ctx context.Context, fn func(pgx.Tx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			// The context may be done; rollback must still reach the server.
			tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	mtx := &markTx{Tx: tx}
	if err := fn(mtx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.signal(mtx.marks.Kinds()...)
	return nil
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction together with its record. The exclusive lock on
// schema_migrations makes instances that start at once take turns, so each
// migration runs once; the lock ends with the transaction, unlike a session
// advisory lock, which distributed databases do not all offer.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, math.MaxInt) }

// migrateTo applies the migrations up to version last: the schema of an
// older linkd, which upgrade tests fill and then migrate.
func (s *Store) migrateTo(ctx context.Context, last int) error {
	_, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`)
	// Two instances creating the table at once: one fails on a catalog
	// unique index, or finds the table's row type taken, once the other
	// has committed, and the table is there.
	if err != nil && !isCode(err, "23505", "42P07", "42710") {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return linkd.Migrate(ctx, migrations, "migrations", func(ctx context.Context, m linkd.Migration) error {
		if m.Version > last {
			return nil
		}
		return s.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `LOCK TABLE schema_migrations IN EXCLUSIVE MODE`); err != nil {
				return err
			}
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&applied); err != nil || applied {
				return err
			}
			// Without arguments pgx sends the body over the simple protocol,
			// which runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if step := afterMigration[m.Version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.Version, time.Now())
			return err
		})
	})
}

// EnsureSetting implements linkd.Store.
func (s *Store) EnsureSetting(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// A concurrent insert of the same name makes this one wait for it
		// and then do nothing; the select below then reads the winner.
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&stored)
	})
	if err != nil {
		return "", fmt.Errorf("ensure setting %q: %w", name, err)
	}
	return stored, nil
}

// isCode reports whether err is a PostgreSQL error with one of the given
// SQLSTATE codes.
func isCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}

// isUnique reports whether err is a unique (or primary key) violation.
func isUnique(err error) bool { return isCode(err, "23505") }

// isID reports whether s has the form of the ids stored in uuid columns.
// Ids come from linkd.NewID, but a caller may pass any string (a cursor, an
// id from a URL): one that is not a UUID must read as "no such row", as it
// does on SQLite, rather than fail the query with a type error.
func isID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// isConstraint reports whether err is a violation of the named constraint.
func isConstraint(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.ConstraintName == name
}
