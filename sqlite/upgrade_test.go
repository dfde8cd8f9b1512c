package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/sqlite"
)

// TestUpgradeFromEveryVersion makes a database as each older linkd left it
// (the migrations up to N-1, N-2, … 1), puts a row in every table, and
// opens it with this linkd: the remaining migrations apply on a database
// that holds data (a NOT NULL column without a default, a unique index
// over duplicates or a bad backfill fail here, not in production), every
// row survives unless a migration drops or deletes it by name, and the
// store reads the fixture back through its code. With -short only N-1.
func TestUpgradeFromEveryVersion(t *testing.T) {
	latest, err := sqlite.LatestMigration()
	if err != nil {
		t.Fatal(err)
	}
	migrations := sqlite.MigrationSQL()
	for from := latest - 1; from >= 1; from-- {
		if _, ok := migrations[from]; !ok {
			continue // a number never used
		}
		t.Run(fmt.Sprint("from-", from), func(t *testing.T) { testUpgrade(t, from, migrations) })
		if testing.Short() {
			break
		}
	}
}

func testUpgrade(t *testing.T, from int, migrations map[int]string) {
	path := filepath.Join(t.TempDir(), "linkd.db")
	if err := sqlite.MigrateTo(t.Context(), path, from); err != nil {
		t.Fatal(err)
	}
	before := fillEveryTable(t, path)
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("upgrade from migration %d: %v", from, err)
	}
	defer s.Close()
	for _, lost := range dbtest.LostRows(before, rowCounts(t, path), from, migrations) {
		t.Error(lost)
	}
	dbtest.ReadFixture(t, s)
}

// fillEveryTable inserts one row into every table of the database at path
// (foreign keys are not checked: each row stands for its table) and
// returns the tables' row counts.
func fillEveryTable(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	all := tables(t, db)
	for _, table := range all {
		if table == "search_queue" {
			// Empty at every commit (sqlite/searchqueue.go): it only
			// holds a transaction's index changes until its end.
			continue
		}
		rows, err := db.Query(`SELECT name, type FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		var vals []any
		for rows.Next() {
			var name, typ string
			rows.Scan(&name, &typ)
			cols = append(cols, name)
			vals = append(vals, dbtest.FixtureValue(table, name, typ))
		}
		rows.Close()
		q := fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`, table, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
		if _, err := db.Exec(q, vals...); err != nil {
			t.Fatalf("fill %s: %v", table, err)
		}
	}
	if slices.Contains(all, "search_queue") {
		// What every write transaction of the store does before it
		// commits: the account row's index change goes into the index.
		if _, err := db.Exec(`INSERT INTO account_search (account_search, rowid, search)
			SELECT del, search_rowid, search FROM search_queue ORDER BY search_rowid, seq`); err != nil {
			t.Fatalf("apply search_queue: %v", err)
		}
		if _, err := db.Exec(`DELETE FROM search_queue`); err != nil {
			t.Fatal(err)
		}
	}
	return counts(t, db)
}

// tables lists the database's own tables: not FTS5's virtual tables and
// their shadow tables, which only their triggers may write.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		out = append(out, name)
	}
	return out
}

func counts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range tables(t, db) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func rowCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return counts(t, db)
}
