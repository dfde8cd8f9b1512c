package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/sqlite"
)

// TestInstancesStartTogetherOnPostgres starts three servers of the real
// binary at once on a fresh PostgreSQL database: all become ready, and
// each migration ran once (schema_migrations holds every version once: a second
// run of one would fail on the objects it makes and stop its instance). The lock on schema_migrations does it: each
// migration's transaction takes it first, so the others wait and then find
// the migration recorded.
func TestInstancesStartTogetherOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := dbtest.PostgresURL(t)
	bin := buildBinary(t)
	var procs []*proc
	var bases []string
	for range 3 {
		addr := freeAddr(t)
		env := binEnv(map[string]string{"LINKD_ADDR": addr, "LINKD_DATABASE_URL": url, "LINKD_DATA_DIR": t.TempDir(),
			"LINKD_ENCRYPTION_KEY": strings.Repeat("4c", 32), "LINKD_LOG_LEVEL": "warn"})
		procs = append(procs, spawnLinkd(t, bin, env))
		bases = append(bases, "http://"+addr)
	}
	for i, p := range procs {
		waitReady(t, p, bases[i])
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT version, count(*) FROM schema_migrations GROUP BY version`)
	got := map[int]int{}
	for rows.Next() {
		var v, n int
		rows.Scan(&v, &n)
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	latest, err := sqlite.LatestMigration() // both engines number alike
	if err != nil {
		t.Fatal(err)
	}
	if got[latest] != 1 {
		t.Errorf("the last migration, %d, recorded %d times", latest, got[latest])
	}
	for v, n := range got {
		if n != 1 {
			t.Errorf("migration %d recorded %d times", v, n)
		}
	}
	t.Logf("3 instances started together; %d migrations, each applied once", len(got))
}
