package linkd

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change of a store: the file NNNN_what.sql of its
// embedded migrations directory. Both engines number theirs alike, so that
// one version means one change on either.
type Migration struct {
	Version int
	Name    string // the file's name
	SQL     string
}

// Migrate applies the migrations in dir of fsys in version order: apply
// runs one in a transaction of the engine's that also records it, and does
// nothing when the version is recorded already. A file whose name does not
// start with a version, or two files with one version, stop it before
// anything is applied.
func Migrate(ctx context.Context, fsys fs.FS, dir string, apply func(context.Context, Migration) error) error {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return err
	}
	ms := make([]Migration, 0, len(names))
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v <= 0 {
			return fmt.Errorf("migration %s: the name must start with a version number and _", base)
		}
		if other, dup := seen[v]; dup {
			return fmt.Errorf("migrations %s and %s have the same version %d", other, base, v)
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for _, m := range ms {
		if err := apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
