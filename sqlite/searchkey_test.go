package sqlite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/linkd-dev/linkd"
)

// TestSearchKeyFollowsIDs: keys sort as the ids they come from (ids of one
// process, made by NewIDAt in one millisecond or across many, and NewID's),
// and the migration's SQL computes the same keys as Go.
func TestSearchKeyFollowsIDs(t *testing.T) {
	var ids []string
	at := time.Now()
	for i := range 3000 {
		if i%100 == 0 {
			at = at.Add(time.Duration(rand.IntN(5000)) * time.Microsecond)
		}
		ids = append(ids, linkd.NewIDAt(at), linkd.NewID())
	}
	// Crafted v7 ids sharing a millisecond and differing in any bit.
	for range 2000 {
		id := uuid.Must(uuid.NewV7())
		id[6] = 0x70 | byte(rand.IntN(16))
		id[7] = byte(rand.IntN(256))
		id[8] = 0x80 | byte(rand.IntN(64))
		id[9] = byte(rand.IntN(256))
		ids = append(ids, id.String())
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		a, b := searchKey(ids[i-1]), searchKey(ids[i])
		if a > b {
			t.Fatalf("key(%s) = %d > key(%s) = %d", ids[i-1], a, ids[i], b)
		}
		if a <= 0 {
			t.Fatalf("key(%s) = %d", ids[i-1], a)
		}
	}
	if k := searchKey("01890a5d-ac96-774b-bcce-b302099a8057"); k != 0x01890a5dac96<<20|0x74b<<8|(0x3c<<2|0xc>>2) {
		t.Errorf("key = %#x", k)
	}
	for _, id := range []string{"", "acct-1", "01890a5d-ac96-774b-bcce-b302099a805", "01890a5dxac96-774b-bcce-b302099a8057",
		"0189g a5d-ac96-774b-bcce-b302099a8057", "ffffffff-ffff-7fff-bfff-ffffffffffff"} {
		if k := searchKey(id); k != 0 {
			t.Errorf("key(%q) = %d, want 0", id, k)
		}
	}

	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range append(ids[:500:500], "01890a5d-ac96-774b-bcce-b302099a8057", "07ffffff-ffff-7fff-bfff-ffffffffffff") {
		var k int64
		var ok bool
		if err := s.read.QueryRowContext(t.Context(), `SELECT `+searchKeySQL("?1")+`, ?1 GLOB '`+searchKeyIDs+`'`, id).Scan(&k, &ok); err != nil {
			t.Fatal(err)
		}
		if !ok || k != searchKey(id) {
			t.Fatalf("%s: SQL key %d (glob %v), Go %d", id, k, ok, searchKey(id))
		}
	}
	for _, id := range []string{"acct-1", "08000000-0000-7000-8000-000000000000", "01890A5D-AC96-774B-BCCE-B302099A8057"} {
		var ok bool
		if err := s.read.QueryRowContext(t.Context(), `SELECT ? GLOB '`+searchKeyIDs+`'`, id).Scan(&ok); err != nil || ok {
			t.Errorf("%s matches the SQL keys' GLOB (%v)", id, err)
		}
	}
}

// TestSearchOrderPlan: the page read of a large tenant's search is driven
// by the index in rowid order, FTS5 giving the order (no sort, so the
// LIMIT ends the read), ascending and descending, with a cursor or not.
func TestSearchOrderPlan(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer func(v int) { searchOrderOverride = v }(searchOrderOverride)
	searchOrderOverride = 1
	tn := linkd.Tenant{OrgID: "o", Env: linkd.EnvTest}
	for _, f := range []linkd.AccountFilter{
		{Query: "olivia"}, {Query: "olivia", Desc: true}, {Query: "olivia", Cursor: linkd.NewID()},
		{Query: "olivia", Cursor: linkd.NewID(), Desc: true}, {Query: "olivia", ConnectedApp: "slack", Offset: 10},
	} {
		q, err := s.planOrderedSearch(t.Context(), tn, f)
		if err != nil || q == nil {
			t.Fatalf("%+v: %v, %v", f, q, err)
		}
		where, args := q.where, q.args
		order, cmp := "ASC", ">"
		if f.Desc {
			order, cmp = "DESC", "<"
		}
		if f.Cursor != "" {
			where = append(where, q.key+" "+cmp+" "+q.bound)
			args = append(args, q.boundArgs(f.Cursor)...)
		}
		args = append(args, 51, f.Offset)
		plan := explain(t, s, `SELECT `+q.columns+` FROM `+q.from+` WHERE `+strings.Join(where, " AND ")+` ORDER BY `+q.key+` `+order+` LIMIT ? OFFSET ?`, args...)
		if strings.Contains(plan, "TEMP B-TREE") || !strings.Contains(plan, "SCAN s VIRTUAL TABLE") ||
			!strings.Contains(plan, "SEARCH a USING INDEX linked_accounts_search_rowid (search_rowid=?") {
			t.Errorf("%+v: plan\n%s", f, plan)
		}
	}
}

func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		fmt.Fprintln(&b, detail)
	}
	return b.String()
}

// TestSearchRowidsCollide: accounts whose ids share a key (the 68 bits it
// keeps), written one by one and in import batches, each get their own
// index row, next above the key (and above an account already sitting
// there), are found, and page exactly once.
func TestSearchRowidsCollide(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	base := uuid.Must(uuid.NewV7())
	base[9] &= 0x3f // leaves room to set the bits after the key's
	// twin returns an id with base's key and tail i; next, one whose key
	// is base's plus one.
	twin := func(i int) string {
		id := base
		id[9] |= byte(i>>8) & 0x3f
		id[15] = byte(i)
		return id.String()
	}
	next := base
	next[9] |= 0x40
	account := func(id, name string) *linkd.LinkedAccount {
		now := time.Now().UTC()
		return &linkd.LinkedAccount{ID: id, AccountID: "acct-" + id, Name: name, CreatedAt: now, UpdatedAt: now}
	}
	key := searchKey(base.String())
	if searchKey(twin(7)) != key || searchKey(next.String()) != key+1 {
		t.Fatal("crafted ids do not share the key")
	}
	// One by one: the first takes the key, an account sits at key+1, the
	// second twin must go to key+2.
	for _, a := range []*linkd.LinkedAccount{account(twin(3), "Wombat Three"), account(next.String(), "Wombat Next"), account(twin(1), "Wombat One")} {
		if err := s.CreateAccount(ctx, tn, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// In a batch: twins among themselves and with the accounts above.
	var batch []*linkd.LinkedAccount
	for i := 10; i < 20; i++ {
		batch = append(batch, account(twin(i), fmt.Sprintf("Wombat %d", i)))
	}
	batch = append(batch, account(linkd.NewID(), "Wombat Later"))
	if err := s.tx(ctx, func(tx *wtx) error { return s.insertAccounts(ctx, tx, tn, batch) }); err != nil {
		t.Fatal(err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, search_rowid FROM linked_accounts ORDER BY search_rowid`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		var id string
		var r int64
		rows.Scan(&id, &r)
		got[id] = r
	}
	rows.Close()
	if len(got) != 14 {
		t.Fatalf("%d accounts", len(got))
	}
	if got[twin(3)] != key || got[next.String()] != key+1 || got[twin(1)] != key+2 {
		t.Errorf("one by one: rowids %d %d %d, key %d", got[twin(3)], got[next.String()], got[twin(1)], key)
	}
	for i := 10; i < 20; i++ {
		if r := got[twin(i)]; r < key+3 || r > key+12 {
			t.Errorf("twin %d: rowid %d, key %d", i, r, key)
		}
	}
	var fts int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM account_search WHERE account_search MATCH 'wombat'`).Scan(&fts); err != nil || fts != 14 {
		t.Fatalf("index rows matching: %d, %v", fts, err)
	}

	defer func(v int) { searchOrderOverride = v }(searchOrderOverride)
	searchOrderOverride = 1
	for _, desc := range []bool{false, true} {
		f := linkd.AccountFilter{Query: "WOMBAT", Limit: 2, SkipTotal: true, Desc: desc}
		seen := map[string]bool{}
		for {
			p, err := s.ListAccounts(ctx, tn, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range p.Accounts {
				if seen[a.ID] {
					t.Errorf("desc %v: %s twice", desc, a.ID)
				}
				seen[a.ID] = true
			}
			if !p.HasNext {
				break
			}
			f.Cursor = p.NextCursor
		}
		if len(seen) != 14 {
			t.Errorf("desc %v: %d accounts paged, want 14", desc, len(seen))
		}
	}
}
