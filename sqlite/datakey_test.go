package sqlite

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestDataKeyTablesCoverSchema: every table with a data_key column is one
// key rotation visits; a new one without a kind would keep its secrets on
// the old master key, which then could not be retired.
func TestDataKeyTablesCoverSchema(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.read.QueryContext(t.Context(), `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'data_key' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var have []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		have = append(have, name)
	}
	var covered []string
	for _, d := range dataKeyTables {
		covered = append(covered, d.table)
	}
	slices.Sort(covered)
	if !slices.Equal(have, covered) {
		t.Fatalf("tables with data_key: %v; key rotation visits %v", have, covered)
	}
}
