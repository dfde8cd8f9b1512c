package sqlite

import (
	"context"
	"database/sql"
	"errors"

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
var SearchProbe = &searchProbeOverride

// MergeMinRows lets the tests merge the search index after small imports.
var MergeMinRows = &mergeMinRows

// errProbe rolls back SearchMerged's transaction.
var errProbe = errors.New("probe")

// SearchMerged reports whether the search index is in one segment: a merge
// step, rolled back, finds nothing to do.
func (s *Store) SearchMerged() (bool, error) {
	var more bool
	err := s.tx(context.Background(), func(tx *wtx) error {
		var err error
		if more, err = mergeSearch(context.Background(), tx, 1000); err != nil {
			return err
		}
		return errProbe
	})
	if !errors.Is(err, errProbe) {
		return false, err
	}
	return !more, nil
}

// SearchOrdered lets the tests force (1) or forbid (-1) reading a search
// page from the index in rowid order (searchorder.go); 0 decides by the
// tenant's share.
var SearchOrdered = &searchOrderOverride

// SearchKeyOf is the key an account id's index row starts from.
var SearchKeyOf = searchKey

// OrderedSearch reports whether a page of f is read from the index in
// rowid order.
func (s *Store) OrderedSearch(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter) (bool, error) {
	q, err := s.planOrderedSearch(ctx, t, f)
	return q != nil, err
}
