package postgres_test

import (
	"slices"
	"testing"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
)

// TestDataKeyTablesCoverSchema: every table with a data_key column is one
// key rotation visits; a new one without a kind would keep its secrets on
// the old master key, which then could not be retired.
func TestDataKeyTablesCoverSchema(t *testing.T) {
	have, err := dbtest.Postgres(t).TablesWithColumn(t.Context(), "data_key")
	if err != nil {
		t.Fatal(err)
	}
	if covered := postgres.DataKeyTableNames(); !slices.Equal(have, covered) {
		t.Fatalf("tables with data_key: %v; key rotation visits %v", have, covered)
	}
}
