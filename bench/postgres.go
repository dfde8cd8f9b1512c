package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
)

// postgresEngine makes each database with CREATE DATABASE on the server of
// adminURL, named <prefix>_<label> (prefix is linkd_bench_<random>), and
// drops it at the end, also when a phase fails or the run is interrupted.
type postgresEngine struct {
	adminURL string
	prefix   string
	psql     string // psql, for the import floor
	dbs      []*database
	floorDB  string // the import floor's database, made at its first run
}

func newPostgresEngine(ctx context.Context, adminURL, prefix, psql string) (*postgresEngine, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("PostgreSQL URL %q: must be a postgres:// URL", adminURL)
	}
	conn, err := pgx.Connect(ctx, plainURL(adminURL))
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	conn.Close(ctx)
	return &postgresEngine{adminURL: adminURL, prefix: prefix, psql: psql}, nil
}

// plainURL drops the pool settings (pool_max_conns, …) from a URL: the
// store and the floor open pools, which read them, but a single connection
// or psql would send them to the server as unknown parameters.
func plainURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (e *postgresEngine) Name() string { return "postgres" }

// dbURL is adminURL pointed at database name.
func (e *postgresEngine) dbURL(name string) string {
	u, _ := url.Parse(e.adminURL)
	u.Path = "/" + name
	return u.String()
}

// exec runs statements on one connection to dsn; CREATE and DROP DATABASE
// cannot run in a transaction, so each call gets its own session.
func (e *postgresEngine) exec(ctx context.Context, dsn string, sqls ...string) error {
	conn, err := pgx.Connect(ctx, plainURL(dsn))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// query reads one value from dsn.
func (e *postgresEngine) query(ctx context.Context, dsn, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, plainURL(dsn))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dst)
}

// createDB makes database name afresh, dropping one of that name a previous
// run may have left.
func (e *postgresEngine) createDB(ctx context.Context, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	if err := e.exec(ctx, e.adminURL, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`, `CREATE DATABASE `+ident); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (e *postgresEngine) dropDB(name string) error {
	// The run's context may be cancelled (Ctrl-C): still drop.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.exec(ctx, e.adminURL, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
}

func (e *postgresEngine) Open(ctx context.Context, label string) (*database, error) {
	name := e.prefix + "_" + label
	if err := e.createDB(ctx, name); err != nil {
		return nil, err
	}
	dsn := e.dbURL(name)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, errors.Join(err, e.dropDB(name))
	}
	db := &database{store: s, dsn: dsn, drop: func() error { return errors.Join(s.Close(), e.dropDB(name)) }}
	e.dbs = append(e.dbs, db)
	return db, nil
}

func (e *postgresEngine) Version(ctx context.Context, db *database) string {
	var v string
	if err := e.query(ctx, db.dsn, `SHOW server_version`, &v); err != nil {
		return "PostgreSQL (version unknown)"
	}
	return "PostgreSQL " + v + " (pgx/v5)"
}

func (e *postgresEngine) Size(ctx context.Context, db *database) int64 {
	var n int64
	e.query(ctx, db.dsn, `SELECT pg_database_size(current_database())`, &n)
	return n
}

// Floor opens a pool on the database URL exactly as postgres.Open does
// (pgxpool.ParseConfig of the URL, pool defaults included), so it has as many
// connections as the product's store would.
func (e *postgresEngine) Floor(ctx context.Context, db *database, t linkd.Tenant) (http.Handler, func(), error) {
	cfg, err := pgxpool.ParseConfig(db.dsn)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	const insert = `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		row, err := decodeFloorRow(r)
		if err == nil {
			_, err = pool.Exec(r.Context(), insert, t.OrgID, string(t.Env), row.id, row.accountID, row.name, row.udf,
				nil, nil, nil, row.now, row.now)
		}
		floorReply(rw, row.id, err)
	})
	return h, pool.Close, nil
}

// Seed copies accounts and their connections with COPY (pgx CopyFrom),
// 100,000 accounts per transaction, then VACUUM ANALYZEs the tables as
// autovacuum would have done on a server that has been running.
func (e *postgresEngine) Seed(ctx context.Context, db *database, t linkd.Tenant, n, cursorAt int, progress func(int)) (string, error) {
	conn, err := pgx.Connect(ctx, plainURL(db.dsn))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	org, err := uuid.Parse(t.OrgID)
	if err != nil {
		return "", err
	}
	env := string(t.Env)
	const txRows = 100_000
	var counts [countSlots]int64
	var cursorID string
	cols := []string{"org_id", "env", "id", "account_id", "name", "udf", "data_key", "connected_apps", "created_at", "updated_at", "search"}
	connCols := []string{"org_id", "env", "id", "account_pk", "slug", "auth_type", "status", "credentials", "created_at", "updated_at"}
	for start := 0; start < n; start += txRows {
		m := min(txRows, n-start)
		rows := make([][]any, 0, m)
		var conns [][]any
		for i := start; i < start+m; i++ {
			a := newSeedAccount(i)
			if i+1 == cursorAt {
				cursorID = a.id.String()
			}
			rows = append(rows, []any{org, env, a.id, a.accountID, a.name, a.udf, a.dataKey, a.connectedApps, a.created, a.created,
				linkd.SearchText(a.accountID, a.name)})
			if c := a.conn; c != nil {
				conns = append(conns, []any{org, env, c.id, a.id, seedApp, linkd.AuthKeyBased, linkd.ConnActive, c.credentials, a.created, a.created})
			}
			counts[countSlot(a.accountID)]++
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"linked_accounts"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("copy accounts: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"connections"}, connCols, pgx.CopyFromRows(conns)); err != nil {
				return fmt.Errorf("copy connections: %w", err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		progress(start + m)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for slot, c := range counts {
			if c == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES ($1, $2, $3, $4)
				ON CONFLICT (org_id, env, slot) DO UPDATE SET n = account_counts.n + excluded.n`, org, env, slot, c); err != nil {
				return err
			}
		}
		// The app's count of connected accounts, as the store keeps it.
		_, err := tx.Exec(ctx, `INSERT INTO app_counts (org_id, env, slug, n) VALUES ($1, $2, $3, $4)`, org, env, seedApp, seedConnections(n))
		return err
	})
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE linked_accounts, account_counts, connections, account_udf`); err != nil {
		return "", err
	}
	return cursorID, nil
}

func (e *postgresEngine) ImportFloorVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, e.psql, "--version").Output()
	if err != nil {
		return "psql"
	}
	return strings.TrimSpace(string(out)) + " \\copy"
}

// checkpoint asks the server to write out dirty buffers before a measured
// window, so that no window pays for the previous one's writes. It needs a
// superuser (or pg_checkpoint); without one the run goes on.
func (e *postgresEngine) checkpoint(ctx context.Context) {
	e.exec(ctx, e.adminURL, `CHECKPOINT`)
}

// ImportFloor makes a fresh bare table — the file's columns as text and a
// unique index on the id, logged like linkd's tables — in a database of its
// own, and returns the one command to time: psql's \copy of the whole file
// (COPY FROM STDIN, the server's CSV parser, one transaction).
func (e *postgresEngine) ImportFloor(ctx context.Context, file, label string, rows int64) (*exec.Cmd, func() error, func() error, error) {
	if e.floorDB == "" {
		name := e.prefix + "_import_floor"
		if err := e.createDB(ctx, name); err != nil {
			return nil, nil, nil, err
		}
		e.floorDB = name
	}
	floorURL := e.dbURL(e.floorDB)
	err := e.exec(ctx, floorURL, `DROP TABLE IF EXISTS bare`,
		`CREATE TABLE bare (linked_account_id text, name text, udf_plan text, udf_seats text, udf_region text)`,
		`CREATE UNIQUE INDEX bare_linked_account_id ON bare (linked_account_id)`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("floor schema: %w", err)
	}
	e.checkpoint(ctx)
	cmd := exec.CommandContext(ctx, e.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plainURL(floorURL),
		"-c", `\copy bare (linked_account_id, name, udf_plan, udf_seats, udf_region) FROM '`+file+`' CSV HEADER`)
	check := func() error {
		var n int64
		if err := e.query(ctx, floorURL, `SELECT count(*) FROM bare`, &n); err != nil {
			return err
		}
		if n != rows {
			return fmt.Errorf("floor imported %d rows, want %d", n, rows)
		}
		return nil
	}
	cleanup := func() error { return e.exec(context.WithoutCancel(ctx), floorURL, `DROP TABLE IF EXISTS bare`) }
	return cmd, check, cleanup, nil
}

func (e *postgresEngine) Close() error {
	var errs []error
	for _, db := range e.dbs {
		errs = append(errs, db.Drop())
	}
	if e.floorDB != "" {
		errs = append(errs, e.dropDB(e.floorDB))
		e.floorDB = ""
	}
	return errors.Join(errs...)
}

// watchActivity samples, every interval, what the server's backends for
// database db are doing — the wait event, or "CPU" when running, and the
// start of the statement — until stop is called, which returns how many
// samples saw each. A backend idle in a transaction is waiting for linkd.
func (e *postgresEngine) watchActivity(ctx context.Context, db string, interval time.Duration) (stop func() map[string]int) {
	counts := map[string]int{}
	conn, err := pgx.Connect(ctx, plainURL(e.adminURL))
	if err != nil {
		return func() map[string]int { return counts }
	}
	stopTicks := every(ctx, interval, func() {
		rows, err := conn.Query(ctx, `SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU'),
				left(regexp_replace(query, '\s+', ' ', 'g'), 48)
			FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND state <> 'idle'`, db)
		if err != nil {
			return
		}
		defer rows.Close()
		counts["(samples)"]++
		for rows.Next() {
			var state, wait, query string
			if rows.Scan(&state, &wait, &query) != nil {
				continue
			}
			if state != "active" {
				counts[state+" (waiting for linkd)"]++
				continue
			}
			counts[wait+" | "+query]++
		}
	})
	return func() map[string]int {
		stopTicks()
		conn.Close(context.WithoutCancel(ctx))
		return counts
	}
}
