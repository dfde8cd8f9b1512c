package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// searchFixture is a store with two tenants whose accounts share names, so
// that the index's matches of one interleave the other's.
type searchFixture struct {
	s    *sqlite.Store
	keys *vault.Keyring
	svc  *linkd.AccountService
	big  linkd.Tenant
	n    int // accounts made so far, for new ids
}

var searchFirst = []string{"Olivia", "Liam", "Émile", "Zoë", "Noah", "Amélie"}
var searchLast = []string{"Martinez", "Straße", "O'Brien", "Nguyen", "Martin"}

func newSearchFixture(t *testing.T, path string, big, small int) *searchFixture {
	t.Helper()
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
	fx := &searchFixture{s: s, keys: keys, svc: linkd.NewAccountService(s, keys), big: linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}}
	t.Cleanup(func() { fx.s.Close() }) // the one open at the end
	other := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvProduction}
	// Ids are made before their accounts are written, and concurrent
	// creates commit in any order: here in groups of 5, shuffled.
	type pending struct {
		tn linkd.Tenant
		a  *linkd.LinkedAccount
	}
	var group []pending
	for i := range big + small {
		tn := fx.big
		if i%((big+small)/small) == 0 {
			tn = other
		}
		now := time.Now().UTC()
		group = append(group, pending{tn, &linkd.LinkedAccount{ID: linkd.NewIDAt(now), AccountID: fmt.Sprintf("acct-%04d", i), Name: fx.name(i),
			CreatedAt: now, UpdatedAt: now}})
		fx.n++
		if len(group) == 5 || i == big+small-1 {
			rand.Shuffle(len(group), func(i, j int) { group[i], group[j] = group[j], group[i] })
			for _, p := range group {
				if err := s.CreateAccount(t.Context(), p.tn, p.a, nil); err != nil {
					t.Fatal(err)
				}
			}
			group = group[:0]
		}
	}
	return fx
}

func (fx *searchFixture) name(i int) string {
	return fmt.Sprintf("%s %s %d", searchFirst[rand.IntN(len(searchFirst))], searchLast[rand.IntN(len(searchLast))], i%7)
}

func (fx *searchFixture) create(t *testing.T, tn linkd.Tenant) *linkd.LinkedAccount {
	t.Helper()
	i := fx.n
	fx.n++
	name := fx.name(i)
	a, err := fx.svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: fmt.Sprintf("acct-%04d", i), Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// setSearchPath sets the store's search path: "scan", "rare" (the index's matches
// sorted) or "ordered" (the index read in rowid order).
func setSearchPath(path string) {
	switch path {
	case "scan":
		*sqlite.SearchProbe, *sqlite.SearchOrdered = 1, -1
	case "rare":
		*sqlite.SearchProbe, *sqlite.SearchOrdered = 1<<30, -1
	case "ordered":
		*sqlite.SearchProbe, *sqlite.SearchOrdered = 0, 1
	default:
		*sqlite.SearchProbe, *sqlite.SearchOrdered = 0, 0
	}
}

func keepSearchPath(t *testing.T) {
	probe, ordered := *sqlite.SearchProbe, *sqlite.SearchOrdered
	t.Cleanup(func() { *sqlite.SearchProbe, *sqlite.SearchOrdered = probe, ordered })
}

// pages lists f's accounts (ids) page by page, by cursor or by offset.
func (fx *searchFixture) pages(t *testing.T, f linkd.AccountFilter, byOffset bool) []string {
	t.Helper()
	var out []string
	for range 10_000 {
		p, err := fx.s.ListAccounts(t.Context(), fx.big, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Accounts {
			out = append(out, a.ID)
		}
		if !p.HasNext {
			return out
		}
		if byOffset {
			f.Offset += len(p.Accounts)
		} else {
			f.Cursor = p.NextCursor
		}
	}
	t.Fatal("no last page")
	return nil
}

// TestSearchOrderedPages: pages read from the index in rowid order hold
// exactly the accounts the scan and the sorted matches find, in id order,
// by cursor and by offset, ascending and descending, for texts matching
// every account, some, one or none (and the totals agree).
func TestSearchOrderedPages(t *testing.T) {
	keepSearchPath(t)
	fx := newSearchFixture(t, filepath.Join(t.TempDir(), "linkd.db"), 300, 60)
	for _, q := range []string{"acct-", "OLIVIA", "strasse", "o'b", "émile mart", "acct-0123", "nomatch", "zoë ng", "in 3"} {
		setSearchPath("scan")
		want := fx.pages(t, linkd.AccountFilter{Query: q, Limit: 1000}, false)
		if !slices.IsSorted(want) {
			t.Fatalf("%q: the scan's pages are not in id order", q)
		}
		for _, path := range []string{"rare", "ordered"} {
			setSearchPath(path)
			for _, limit := range []int{1, 7, 50} {
				for _, desc := range []bool{false, true} {
					for _, byOffset := range []bool{false, true} {
						f := linkd.AccountFilter{Query: q, Limit: limit, Desc: desc, SkipTotal: true}
						got := fx.pages(t, f, byOffset)
						if desc {
							slices.Reverse(got)
						}
						if !slices.Equal(got, want) {
							t.Errorf("%q %s limit %d desc %v offset %v: %d accounts, the scan %d (or out of order)", q, path, limit, desc, byOffset, len(got), len(want))
						}
					}
				}
			}
			p, err := fx.s.ListAccounts(t.Context(), fx.big, linkd.AccountFilter{Query: q, Limit: 5})
			if err != nil || p.Total != int64(len(want)) || len(p.Accounts) != min(5, len(want)) {
				t.Errorf("%q %s with its total: %d of %d, %v", q, path, p.Total, len(want), err)
			}
		}
	}
}

// TestSearchOrderedPagesUnderWrites: while a search is paged by cursor from
// the index in rowid order, accounts are deleted (one already listed, one
// not yet, sometimes the cursor's own) and created: every page follows on
// from the last in id order, nothing is listed twice, every account there
// throughout is listed, no account deleted before its turn is, and the new
// ones (the newest ids) are listed at the end ascending.
func TestSearchOrderedPagesUnderWrites(t *testing.T) {
	keepSearchPath(t)
	fx := newSearchFixture(t, filepath.Join(t.TempDir(), "linkd.db"), 200, 40)
	ctx := t.Context()
	for _, desc := range []bool{false, true} {
		setSearchPath("scan")
		before := fx.pages(t, linkd.AccountFilter{Query: "acct-", Limit: 1000}, false)
		setSearchPath("ordered")
		byID := map[string]string{} // id → account id, to delete by
		for f := (linkd.AccountFilter{Limit: linkd.MaxPageLimit, SkipTotal: true}); ; {
			p, err := fx.s.ListAccounts(ctx, fx.big, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range p.Accounts {
				byID[a.ID] = a.AccountID
			}
			if !p.HasNext {
				break
			}
			f.Cursor = p.NextCursor
		}
		deleted, created, seen := map[string]bool{}, map[string]bool{}, map[string]bool{}
		var listed []string
		f := linkd.AccountFilter{Query: "acct-", Limit: 9, Desc: desc, SkipTotal: true}
		for pageNo := 0; ; pageNo++ {
			p, err := fx.s.ListAccounts(ctx, fx.big, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range p.Accounts {
				if seen[a.ID] {
					t.Fatalf("desc %v: %s listed twice", desc, a.AccountID)
				}
				if deleted[a.ID] {
					t.Fatalf("desc %v: %s listed after its delete", desc, a.AccountID)
				}
				seen[a.ID] = true
				listed = append(listed, a.ID)
			}
			if !p.HasNext {
				break
			}
			f.Cursor = p.NextCursor
			// One listed (every third page: the cursor's own), one not yet.
			gone := p.Accounts[rand.IntN(len(p.Accounts))].ID
			if pageNo%3 == 0 {
				gone = f.Cursor
			}
			var ahead []string
			for _, id := range before {
				if !seen[id] && !deleted[id] {
					ahead = append(ahead, id)
				}
			}
			doomed := []string{gone}
			if len(ahead) > 0 {
				doomed = append(doomed, ahead[rand.IntN(len(ahead))])
			}
			for _, id := range doomed {
				if err := fx.svc.Delete(ctx, fx.big, "t", byID[id]); err != nil {
					t.Fatal(err)
				}
				deleted[id] = true
			}
			a := fx.create(t, fx.big)
			created[a.ID], byID[a.ID] = true, a.AccountID
		}
		check := listed
		if desc {
			check = slices.Clone(listed)
			slices.Reverse(check)
		}
		if !slices.IsSorted(check) {
			t.Errorf("desc %v: pages out of id order", desc)
		}
		for _, id := range before {
			if !deleted[id] && !seen[id] {
				t.Errorf("desc %v: %s, there throughout, never listed", desc, byID[id])
			}
		}
		for id := range created {
			if !desc && !seen[id] {
				t.Errorf("new account %s not listed", byID[id])
			}
			if desc && seen[id] {
				t.Errorf("desc: new account %s listed behind the cursor", byID[id])
			}
		}
		// What is left pages the same on every path.
		setSearchPath("scan")
		want := fx.pages(t, linkd.AccountFilter{Query: "acct-", Limit: 1000}, false)
		setSearchPath("ordered")
		if got := fx.pages(t, linkd.AccountFilter{Query: "acct-", Limit: 4, SkipTotal: true}, false); !slices.Equal(got, want) {
			t.Errorf("desc %v: after the writes, %d accounts, the scan %d", desc, len(got), len(want))
		}
	}
}

// TestSearchOrderedByShare: without a forced path, a tenant with most of
// the accounts reads the index in order and a small one keeps the probe.
func TestSearchOrderedByShare(t *testing.T) {
	keepSearchPath(t)
	setSearchPath("")
	fx := newSearchFixture(t, filepath.Join(t.TempDir(), "linkd.db"), 150, 30)
	for _, c := range []struct {
		tn   linkd.Tenant
		f    linkd.AccountFilter
		want bool
	}{
		{fx.big, linkd.AccountFilter{Query: "acct-"}, true},
		{fx.big, linkd.AccountFilter{Query: "ac"}, false}, // not indexable
		{fx.big, linkd.AccountFilter{Query: "acct-", UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}}, false},
		{linkd.Tenant{OrgID: fx.big.OrgID, Env: linkd.EnvProduction}, linkd.AccountFilter{Query: "acct-"}, false},
	} {
		got, err := fx.s.OrderedSearch(t.Context(), c.tn, c.f)
		if err != nil || got != c.want {
			t.Errorf("%v %+v: in order %v, want %v (%v)", c.tn.Env, c.f, got, c.want, err)
		}
	}
}

// TestMigrateSearchOrder takes a database back to before migration 0033,
// with index rows numbered in insert order (here, the reverse of the ids'),
// and opens it again: every account's index row is then its key, the
// index rebuilt under them finds what it found before on every path, in id
// order, and keeps secure-delete (a deleted account's name leaves it).
func TestMigrateSearchOrder(t *testing.T) {
	keepSearchPath(t)
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "linkd.db")
	fx := newSearchFixture(t, path, 120, 30)
	quokka := fx.create(t, fx.big)
	name := "Quokka Unique"
	if _, _, err := fx.svc.Update(ctx, fx.big, "t", linkd.AccountInput{AccountID: quokka.AccountID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	// Two ids sharing a key (made by two processes): the migration must
	// give them two rows.
	twin := linkd.NewID()
	for i, tail := range []string{"0-000000000000", "1-000000000001"} {
		now := time.Now().UTC()
		a := &linkd.LinkedAccount{ID: twin[:22] + tail, AccountID: fmt.Sprintf("twin-%d", i), Name: "Twin Wombat", CreatedAt: now, UpdatedAt: now}
		if err := fx.s.CreateAccount(ctx, fx.big, a, nil); err != nil {
			t.Fatal(err)
		}
		fx.n++
	}
	queries := []string{"acct-", "olivia", "strasse", "o'b", "quokka", "nomatch", "wombat"}
	setSearchPath("scan")
	before := map[string][]string{}
	for _, q := range queries {
		before[q] = fx.pages(t, linkd.AccountFilter{Query: q, Limit: 1000}, false)
	}

	w, _ := fx.s.DBs()
	for _, q := range []string{
		`UPDATE linked_accounts SET search_rowid = -search_rowid`,
		`UPDATE linked_accounts SET search_rowid = (SELECT count(*) FROM linked_accounts b WHERE b.id >= linked_accounts.id)`,
		`INSERT INTO account_search (account_search) VALUES ('delete-all')`,
		`INSERT INTO account_search (rowid, search) SELECT search_rowid, search FROM linked_accounts`,
		`DELETE FROM schema_migrations WHERE version = 33`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var first int64
	if err := w.QueryRowContext(ctx, `SELECT min(search_rowid) FROM linked_accounts`).Scan(&first); err != nil || first != 1 {
		t.Fatalf("old rowids start at %d, %v", first, err)
	}
	fx.s.Close()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	fx.s, fx.svc = s, linkd.NewAccountService(s, fx.keys)
	w, _ = s.DBs()
	rows, err := w.QueryContext(ctx, `SELECT id, search_rowid FROM linked_accounts`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var twins []int64 // their rowids less their key
	for rows.Next() {
		var id string
		var rowid int64
		rows.Scan(&id, &rowid)
		if strings.HasPrefix(id, twin[:22]) {
			twins = append(twins, rowid-sqlite.SearchKeyOf(id))
		} else if rowid != sqlite.SearchKeyOf(id) {
			t.Errorf("%s: index row %d, key %d", id, rowid, sqlite.SearchKeyOf(id))
		}
		n++
	}
	rows.Close()
	if n != fx.n {
		t.Fatalf("%d accounts after the migration, %d before", n, fx.n)
	}
	if slices.Sort(twins); !slices.Equal(twins, []int64{0, 1}) {
		t.Errorf("ids sharing a key: rowids at key + %v, want 0 and 1", twins)
	}
	for _, path := range []string{"scan", "rare", "ordered"} {
		setSearchPath(path)
		for _, q := range queries {
			if got := fx.pages(t, linkd.AccountFilter{Query: q, Limit: 3, SkipTotal: true}, false); !slices.Equal(got, before[q]) {
				t.Errorf("%s %q after the migration: %d accounts, %d before (or out of order)", path, q, len(got), len(before[q]))
			}
		}
	}
	var secure int
	if err := w.QueryRowContext(ctx, `SELECT v FROM account_search_config WHERE k = 'secure-delete'`).Scan(&secure); err != nil || secure != 1 {
		t.Errorf("secure-delete after the migration: %d, %v", secure, err)
	}
	if err := fx.svc.Delete(ctx, fx.big, "t", quokka.AccountID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM account_search WHERE account_search MATCH 'quokka'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("a deleted account's name still matches %d index rows (%v)", left, err)
	}
}
