package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) linkd.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSearchPaths runs the search cases with every indexable query sent
// down each of the three paths (the scan, the index's matches sorted, and
// the index read in order), so that they cannot disagree.
func TestSearchPaths(t *testing.T) {
	open := func(t *testing.T) linkd.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	defer func(v int) { *sqlite.SearchProbe = v }(*sqlite.SearchProbe)
	defer func(v int) { *sqlite.SearchOrdered = v }(*sqlite.SearchOrdered)
	for _, c := range []struct{ probe, ordered int }{{1, -1}, {1 << 30, -1}, {1, 1}} {
		t.Run(fmt.Sprint(c.probe, "/", c.ordered), func(t *testing.T) {
			*sqlite.SearchProbe, *sqlite.SearchOrdered = c.probe, c.ordered
			storetest.Search(t, open)
		})
	}
}
