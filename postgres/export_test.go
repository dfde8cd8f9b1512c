package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd-dev/linkd"
)

// DataKeyTableNames are the tables key rotation visits, sorted.
func DataKeyTableNames() []string {
	var out []string
	for _, d := range dataKeyTables {
		out = append(out, d.table)
	}
	slices.Sort(out)
	return out
}

// TablesWithColumn lists the tables of s's schema that have column, sorted.
func (s *Store) TablesWithColumn(ctx context.Context, column string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT table_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = $1 ORDER BY 1`, column)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// MigrateTo applies the migrations up to version to the database at url:
// the schema an older linkd left.
func MigrateTo(ctx context.Context, url string, version int) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return (&Store{pool: pool}).migrateTo(ctx, version)
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
