package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
// drops it at the end.
type postgresEngine struct {
	adminURL string
	prefix   string
	dbs      []*database
}

func newPostgresEngine(ctx context.Context, adminURL, prefix string) (*postgresEngine, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("PostgreSQL URL %q: must be a postgres:// URL", adminURL)
	}
	conn, err := pgx.Connect(ctx, plainURL(adminURL))
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	conn.Close(ctx)
	return &postgresEngine{adminURL: adminURL, prefix: prefix}, nil
}

// plainURL drops the pool settings (pool_max_conns, …) from a URL: the
// store and the floor open pools, which read them, but a single connection
// would send them to the server as unknown parameters.
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

// admin runs one statement on the admin connection; CREATE and DROP
// DATABASE cannot run in a transaction, so each gets its own session.
func (e *postgresEngine) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, plainURL(e.adminURL))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (e *postgresEngine) Open(ctx context.Context, label string) (*database, error) {
	name := e.prefix + "_" + label
	ident := pgx.Identifier{name}.Sanitize()
	if err := e.admin(ctx, `CREATE DATABASE `+ident); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, _ := url.Parse(e.adminURL)
	u.Path = "/" + name
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return e.admin(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`)
	}
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		return nil, errors.Join(err, drop())
	}
	db := &database{store: s, dsn: u.String(), drop: func() error { return errors.Join(s.Close(), drop()) }}
	e.dbs = append(e.dbs, db)
	return db, nil
}

func (e *postgresEngine) query(ctx context.Context, dsn, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, plainURL(dsn))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dst)
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

// Seed copies accounts with COPY (pgx CopyFrom), 100,000
// accounts per transaction, then VACUUM ANALYZEs the tables as autovacuum
// would have done on a server that has been running.
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
	cols := []string{"org_id", "env", "id", "account_id", "name", "udf", "data_key", "created_at", "updated_at"}
	for start := 0; start < n; start += txRows {
		m := min(txRows, n-start)
		rows := make([][]any, 0, m)
		for i := start; i < start+m; i++ {
			a := newSeedAccount(i)
			if i+1 == cursorAt {
				cursorID = a.id.String()
			}
			rows = append(rows, []any{org, env, a.id, a.accountID, a.name, a.udf, a.dataKey, a.created, a.created})
			counts[countSlot(a.accountID)]++
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"linked_accounts"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("copy accounts: %w", err)
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
		return nil
	})
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE linked_accounts, account_counts`); err != nil {
		return "", err
	}
	return cursorID, nil
}

func (e *postgresEngine) Close() error {
	var errs []error
	for _, db := range e.dbs {
		errs = append(errs, db.Drop())
	}
	return errors.Join(errs...)
}
