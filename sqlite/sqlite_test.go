package sqlite_test

import (
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
