package http_test

import (
	"go/types"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const module = "github.com/linkd-dev/linkd"

// writeVerbs are how the store's write methods begin; every other method of
// linkd.Store only reads.
var writeVerbs = []string{"Create", "Put", "Delete", "Remove", "Revoke", "Update", "Set", "Touch", "Cancel", "Claim",
	"Finish", "Append", "Insert", "Take", "Lease", "Retry", "Purge", "Save", "Add", "Heartbeat", "Record", "Mark",
	"Release", "Complete", "Reserve", "Start", "Fail", "Upsert", "Store", "Write", "Reset", "Consume", "Spend", "Enqueue"}

func isWrite(name string) bool {
	return slices.ContainsFunc(writeVerbs, func(v string) bool { return strings.HasPrefix(name, v) })
}

// TestOnlyServicesWrite (issue 10): nothing the HTTP API or the dashboard
// is given can call a store write method: not an interface that has one,
// not a service whose exported field holds the store, however deep. Every
// change goes through a domain service, where its rules, audit entry (and
// later its events) are written once. It reads the types with go/types, so
// a new field or method is checked without anyone updating a list.
func TestOnlyServicesWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the module")
	}
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedTypes}
	pkgs, err := packages.Load(cfg, module, module+"/http", module+"/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*types.Package{}
	for _, p := range pkgs {
		if len(p.Errors) > 0 {
			t.Fatalf("%s: %v", p.PkgPath, p.Errors)
		}
		byPath[p.PkgPath] = p.Types
	}
	store := byPath[module].Scope().Lookup("Store").Type()
	writes := map[string]*types.Signature{}
	mset := types.NewMethodSet(store)
	for i := range mset.Len() {
		m := mset.At(i).Obj().(*types.Func)
		if isWrite(m.Name()) {
			writes[m.Name()] = m.Type().(*types.Signature)
		}
	}
	// The classification finds the writes everyone knows of, so the
	// check below cannot pass by finding none.
	for _, w := range []string{"PutAccount", "CreateAPIKey", "DeleteAccount", "RevokeSessionToken", "PutAllowedOrigins", "CreateBulkJob"} {
		if writes[w] == nil {
			t.Fatalf("%s is not classified as a store write; writes: %d", w, len(writes))
		}
	}
	// The Reader the front ends get reads only.
	rs := types.NewMethodSet(byPath[module].Scope().Lookup("Reader").Type())
	for i := range rs.Len() {
		if name := rs.At(i).Obj().Name(); writes[name] != nil {
			t.Errorf("linkd.Reader has the write method %s", name)
		}
	}

	for _, root := range []struct{ pkg, typ string }{{module + "/http", "Config"}, {module + "/dashboard", "Config"}} {
		cfgType := byPath[root.pkg].Scope().Lookup(root.typ).Type()
		w := &walker{t: t, writes: writes, seen: map[string]bool{}}
		w.walk(cfgType, root.pkg[len(module)+1:]+"."+root.typ)
		if w.types < 10 {
			t.Fatalf("%s.%s: only %d types reached; the walk is not seeing the services", root.pkg, root.typ, w.types)
		}
	}
}

// walker follows what a value of a type exposes: its methods, and the
// exported fields of the module's structs, through pointers.
type walker struct {
	t      *testing.T
	writes map[string]*types.Signature
	seen   map[string]bool
	types  int
}

func (w *walker) walk(typ types.Type, path string) {
	key := types.TypeString(typ, nil)
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	w.types++
	for _, t := range []types.Type{typ, types.NewPointer(typ)} {
		ms := types.NewMethodSet(t)
		for i := range ms.Len() {
			m := ms.At(i).Obj().(*types.Func)
			if sig := w.writes[m.Name()]; sig != nil && sameSignature(sig, m.Type().(*types.Signature)) {
				w.t.Errorf("%s (%s) exposes the store write method %s", path, key, m.Name())
			}
		}
	}
	switch u := typ.Underlying().(type) {
	case *types.Pointer:
		w.walk(u.Elem(), path)
	case *types.Struct:
		named, ok := types.Unalias(typ).(*types.Named)
		if !ok || named.Obj().Pkg() == nil || !strings.HasPrefix(named.Obj().Pkg().Path(), module) {
			return // the standard library's and other modules' own structs
		}
		for i := range u.NumFields() {
			if f := u.Field(i); f.Exported() {
				w.walk(f.Type(), path+"."+f.Name())
			}
		}
	}
}

// sameSignature compares parameters and results, not receivers.
func sameSignature(a, b *types.Signature) bool {
	return types.Identical(types.NewSignatureType(nil, nil, nil, a.Params(), a.Results(), a.Variadic()),
		types.NewSignatureType(nil, nil, nil, b.Params(), b.Results(), b.Variadic()))
}
