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
// down each of the two paths, so that they cannot disagree.
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
	for _, probe := range []int{1, 1 << 30} {
		t.Run(fmt.Sprint(probe), func(t *testing.T) {
			*sqlite.SearchProbe = probe
			storetest.Search(t, open)
		})
	}
}
