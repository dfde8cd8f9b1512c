package sqlite

import (
	"context"
	"database/sql"

	"github.com/linkd-dev/linkd"
)

// MigrateTo makes a new database at path with the migrations up to version
// applied: the schema an older linkd left.
func MigrateTo(ctx context.Context, path string, version int) error {
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return err
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	s := &Store{write: w, hooks: newHookCache()}
	return s.migrateTo(ctx, version)
}

// MigrationSQL returns the SQL of every embedded migration, by version.
func MigrationSQL() map[int]string {
	out := map[int]string{}
	linkd.Migrate(context.Background(), migrations, "migrations", func(_ context.Context, m linkd.Migration) error {
		out[m.Version] = m.SQL
		return nil
	})
	return out
}

// SearchProbe lets the tests force a search onto the index path (a large
// probe: every query is rare) or the scan path (1: every query is common).
var SearchProbe = &searchProbe
