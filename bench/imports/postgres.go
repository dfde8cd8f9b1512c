package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
)

// postgresEngine makes each database with CREATE DATABASE on the server of
// adminURL, named <prefix>_<label> (prefix is linkd_bench_import_<random>),
// and drops it afterwards.
type postgresEngine struct {
	adminURL string
	prefix   string
	psql     string
	floorDB  string // created at the first floor run, dropped by Close
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

// plainURL drops the pool settings (pool_max_conns, …) from a URL: the store
// reads them, but a single connection or psql would send them to the server
// as unknown parameters.
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

// dbURL is adminURL pointed at another database.
func (e *postgresEngine) dbURL(name string) string {
	u, _ := url.Parse(e.adminURL)
	u.Path = "/" + name
	return u.String()
}

func (e *postgresEngine) Name() string { return "postgres" }

// exec runs statements on one connection to database db ("" for the admin
// database); CREATE and DROP DATABASE cannot run in a transaction, so each
// call gets its own session.
func (e *postgresEngine) exec(ctx context.Context, db string, sqls ...string) error {
	u := e.adminURL
	if db != "" {
		u = e.dbURL(db)
	}
	conn, err := pgx.Connect(ctx, plainURL(u))
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

func (e *postgresEngine) createDB(ctx context.Context, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	return e.exec(ctx, "", `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`, `CREATE DATABASE `+ident)
}

func (e *postgresEngine) dropDB(name string) error {
	// The run's context may be cancelled (Ctrl-C): still drop.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.exec(ctx, "", `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
}

func (e *postgresEngine) Open(ctx context.Context, label string) (linkd.Store, func() error, error) {
	name := e.prefix + "_" + label
	if err := e.createDB(ctx, name); err != nil {
		return nil, nil, fmt.Errorf("create database %s: %w", name, err)
	}
	s, err := postgres.Open(ctx, e.dbURL(name))
	if err != nil {
		return nil, nil, errors.Join(err, e.dropDB(name))
	}
	return s, func() error { return errors.Join(s.Close(), e.dropDB(name)) }, nil
}

func (e *postgresEngine) Version(ctx context.Context, _ linkd.Store) string {
	conn, err := pgx.Connect(ctx, plainURL(e.adminURL))
	if err != nil {
		return "PostgreSQL (version unknown)"
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "PostgreSQL (version unknown)"
	}
	return "PostgreSQL " + v
}

func (e *postgresEngine) FloorVersion(ctx context.Context) string {
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
	e.exec(ctx, "", `CHECKPOINT`)
}

// Floor makes a fresh bare table — the file's columns as text and a unique
// index on the id, logged like linkd's tables — in a database of its own,
// and returns the one command to time: psql's \copy of the whole file (COPY
// FROM STDIN, the server's CSV parser, one transaction).
func (e *postgresEngine) Floor(ctx context.Context, file, label string, rows int64) (*exec.Cmd, func() error, func() error, error) {
	if e.floorDB == "" {
		name := e.prefix + "_floor"
		if err := e.createDB(ctx, name); err != nil {
			return nil, nil, nil, fmt.Errorf("create database %s: %w", name, err)
		}
		e.floorDB = name
	}
	err := e.exec(ctx, e.floorDB, `DROP TABLE IF EXISTS bare`,
		`CREATE TABLE bare (linked_account_id text, name text, udf_plan text, udf_seats text, udf_region text)`,
		`CREATE UNIQUE INDEX bare_linked_account_id ON bare (linked_account_id)`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("floor schema: %w", err)
	}
	e.checkpoint(ctx)
	cmd := exec.CommandContext(ctx, e.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plainURL(e.dbURL(e.floorDB)),
		"-c", `\copy bare (linked_account_id, name, udf_plan, udf_seats, udf_region) FROM '`+file+`' CSV HEADER`)
	check := func() error {
		conn, err := pgx.Connect(ctx, plainURL(e.dbURL(e.floorDB)))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM bare`).Scan(&n); err != nil {
			return err
		}
		if n != rows {
			return fmt.Errorf("floor imported %d rows, want %d", n, rows)
		}
		return nil
	}
	cleanup := func() error { return e.exec(context.WithoutCancel(ctx), e.floorDB, `DROP TABLE IF EXISTS bare`) }
	return cmd, check, cleanup, nil
}

func (e *postgresEngine) Close(context.Context) error {
	if e.floorDB == "" {
		return nil
	}
	err := e.dropDB(e.floorDB)
	e.floorDB = ""
	return err
}

// watchActivity samples, every interval, what the server's backends for
// database db are doing — the wait event, or "CPU" when running, and the
// start of the statement — until stop is called, which returns how many
// samples saw each. A backend idle in a transaction is waiting for linkd.
func (e *postgresEngine) watchActivity(ctx context.Context, db string, interval time.Duration) (stop func() map[string]int) {
	counts := map[string]int{}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		conn, err := pgx.Connect(ctx, plainURL(e.adminURL))
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := conn.Query(ctx, `SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU'),
					left(regexp_replace(query, '\s+', ' ', 'g'), 48)
				FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND state <> 'idle'`, db)
			if err != nil {
				continue
			}
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
			rows.Close()
		}
	}()
	return func() map[string]int {
		close(done)
		<-finished
		return counts
	}
}
