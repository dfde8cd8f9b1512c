package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// TestMigrateIndexesExistingAccounts takes a database back to before the
// search and UDF indexes (migrations 0019 and 0020), as one made by an
// older linkd, and opens it again: the migrations must index the accounts
// already there (search text folded in Go, UDF values), so that search and
// filters find them.
func TestMigrateIndexesExistingAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linkd.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	svc := linkd.NewAccountService(s, keys)
	for i, name := range []string{"Zoë Straße", "ΣΊΣΥΦΟΣ", "Plain Name"} {
		in := linkd.AccountInput{AccountID: fmt.Sprintf("old-%d", i), Name: &name}
		if i < 2 {
			in.UDF = map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}
		}
		if _, err := svc.Create(t.Context(), tn, "t", in); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := s.DBs()
	for _, q := range []string{
		`DROP TRIGGER linked_accounts_search_insert`, `DROP TRIGGER linked_accounts_search_update`, `DROP TRIGGER linked_accounts_search_delete`,
		`DROP TRIGGER linked_accounts_udf_insert`, `DROP TRIGGER linked_accounts_udf_update`, `DROP TRIGGER linked_accounts_udf_delete`,
		`DROP TABLE account_search`, `DROP TABLE account_udf`, `DROP INDEX linked_accounts_search_rowid`, `DROP TABLE search_queue`,
		`ALTER TABLE linked_accounts DROP COLUMN search`, `ALTER TABLE linked_accounts DROP COLUMN search_rowid`,
		`DELETE FROM schema_migrations WHERE version IN (19, 20, 32)`,
	} {
		if _, err := w.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc = linkd.NewAccountService(s, keys)
	defer func(v int) { *sqlite.SearchProbe = v }(*sqlite.SearchProbe)
	for _, c := range []struct {
		f    linkd.AccountFilter
		want string
	}{
		{linkd.AccountFilter{Query: "STRASSE"}, "[old-0]"},
		{linkd.AccountFilter{Query: "σίσυφος"}, "[old-1]"},
		{linkd.AccountFilter{Query: "name"}, "[old-2]"},
		{linkd.AccountFilter{Query: "old-"}, "[old-0 old-1 old-2]"},
		{linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}}, "[old-0 old-1]"},
	} {
		for _, probe := range []int{1, 1 << 30} { // the scan path and the index path
			*sqlite.SearchProbe = probe
			p, err := svc.List(t.Context(), tn, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range p.Accounts {
				got = append(got, a.AccountID)
			}
			if fmt.Sprint(got) != c.want {
				t.Errorf("%+v (probe %d): %v, want %s", c.f, probe, got, c.want)
			}
		}
	}
	// A new account after the migration takes the next index row.
	name := "Newer Wombat"
	if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: "new", Name: &name}); err != nil {
		t.Fatal(err)
	}
	if p, err := svc.List(t.Context(), tn, linkd.AccountFilter{Query: "wombat"}); err != nil || len(p.Accounts) != 1 {
		t.Fatalf("new account after the migration: %v, %v", p, err)
	}
}
