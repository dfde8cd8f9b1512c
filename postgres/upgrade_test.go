package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
)

// TestUpgradeFromEveryVersion makes a database as each older linkd left it
// (the migrations up to N-1, N-2, … 1), puts a row in every table, and
// opens it with this linkd: the remaining migrations apply on a database
// that holds data (a NOT NULL column without a default, a unique index
// over duplicates or a bad backfill fail here, not in production), every
// row survives unless a migration drops or deletes it by name, and the
// store reads the fixture back through its code. Only from N-1 unless
// LINKD_TEST_LONG is set (the reliability target): each version costs a
// database of its own.
func TestUpgradeFromEveryVersion(t *testing.T) {
	migrations := postgres.MigrationSQL()
	latest := 0
	for v := range migrations {
		latest = max(latest, v)
	}
	for from := latest - 1; from >= 1; from-- {
		if _, ok := migrations[from]; !ok {
			continue // a number never used
		}
		t.Run(fmt.Sprint("from-", from), func(t *testing.T) {
			url := dbtest.PostgresURL(t)
			if err := postgres.MigrateTo(t.Context(), url, from); err != nil {
				t.Fatal(err)
			}
			before := fillEveryTable(t, url)
			s, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatalf("upgrade from migration %d: %v", from, err)
			}
			defer s.Close()
			for _, lost := range dbtest.LostRows(before, rowCounts(t, url), from, migrations) {
				t.Error(lost)
			}
			dbtest.ReadFixture(t, s)
		})
		if os.Getenv("LINKD_TEST_LONG") == "" {
			break
		}
	}
}

// fillEveryTable inserts one row into every table of the database at url
// (foreign keys are not checked: each row stands for its table) and
// returns the tables' row counts.
func fillEveryTable(t *testing.T, url string) map[string]int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables(t, conn) {
		rows, err := conn.Query(ctx, `SELECT column_name::text, data_type::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' AND is_identity = 'NO' ORDER BY ordinal_position`, table)
		if err != nil {
			t.Fatal(err)
		}
		var cols, params []string
		var vals []any
		for rows.Next() {
			var name, typ string
			rows.Scan(&name, &typ)
			cols = append(cols, name)
			vals = append(vals, dbtest.FixtureValue(table, name, typ))
			params = append(params, fmt.Sprintf("$%d", len(cols)))
		}
		rows.Close()
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`, table, strings.Join(cols, ", "), strings.Join(params, ", ")), vals...); err != nil {
			t.Fatalf("fill %s: %v", table, err)
		}
	}
	return counts(t, conn)
}

func tables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func counts(t *testing.T, conn *pgx.Conn) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range tables(t, conn) {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func rowCounts(t *testing.T, url string) map[string]int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	return counts(t, conn)
}
