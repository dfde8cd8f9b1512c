package linkd

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrateOrderAndNames(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README":         {Data: []byte("not a migration")},
	}
	var got []string
	err := Migrate(t.Context(), fsys, "m", func(_ context.Context, m Migration) error {
		got = append(got, m.Name+"="+m.SQL)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "0002_first.sql=A,0010_later.sql=B" {
		t.Fatalf("applied %v, %v", got, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no version":   {"m/first.sql": {}},
		"same version": {"m/0003_a.sql": {}, "m/003_b.sql": {}},
	} {
		applied := 0
		err := Migrate(t.Context(), bad, "m", func(context.Context, Migration) error { applied++; return nil })
		if err == nil || applied != 0 {
			t.Errorf("%s: %v, %d applied", name, err, applied)
		}
	}
}
