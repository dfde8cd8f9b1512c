package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// Search runs the search and UDF filter cases alone, for an engine that
// wants to run them again under other settings (the SQLite store, with its
// index path and its scan path each forced).
func Search(t *testing.T, open func(t *testing.T) linkd.Store) {
	for _, tt := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Search", testSearch},
		{"SearchKeptByWrites", testSearchKeptByWrites},
		{"UDFFilterKeptByWrites", testUDFFilterKeptByWrites},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newEnv(t, open(t)))
		})
	}
}

// ids lists f's accounts by account id, checking the total against them
// and that the pages without a total agree.
func (e *env) ids(t *testing.T, f linkd.AccountFilter) []string {
	t.Helper()
	f.Limit = linkd.MaxPageLimit
	p, err := e.svc.List(e.ctx, e.t, f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	got := []string{}
	for _, a := range p.Accounts {
		got = append(got, a.AccountID)
	}
	if p.Total != int64(len(got)) {
		t.Errorf("List(%+v): total %d for %d accounts", f, p.Total, len(got))
	}
	// The same in pages of two, by cursor, without totals.
	f.Limit, f.SkipTotal = 2, true
	var paged []string
	for {
		p, err := e.svc.List(e.ctx, e.t, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		for _, a := range p.Accounts {
			paged = append(paged, a.AccountID)
		}
		if !p.HasNext {
			break
		}
		f.Cursor = p.NextCursor
	}
	if !slices.Equal(paged, got) && len(paged)+len(got) > 0 {
		t.Errorf("List(%+v) by cursor = %v, in one page %v", f, paged, got)
	}
	slices.Sort(got)
	return got
}

func (e *env) search(t *testing.T, q string) string {
	t.Helper()
	return fmt.Sprint(e.ids(t, linkd.AccountFilter{Query: q}))
}

// testSearch pins down what q matches: a case-insensitive substring of the
// account id or the name, in any script, across words and punctuation, but
// never across the id and the name; one- and two-character queries (which
// trigram indexes cannot serve) match the same way.
func testSearch(t *testing.T, e *env) {
	e.create(t, e.t, "cust-001", "Alpha Beta Gamma", nil)
	e.create(t, e.t, "ORD#42/x.y", "Zoë Straße", nil)
	e.create(t, e.t, "user@example.com", "ΣΊΣΥΦΟΣ Ελλάς", nil)
	e.create(t, e.t, "b_100%", "Bob 'quoted' \"double\"", nil)
	e.create(t, e.t, "ÉCLAIR-7", "Ünïcode Crème", nil)
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	e.create(t, other, "cust-002", "Alpha Beta Gamma", nil)

	for _, c := range []struct{ q, want string }{
		{"ha beta ga", "[cust-001]"},                             // across word boundaries
		{"PHA BE", "[cust-001]"},                                 // case
		{"st-0", "[cust-001]"},                                   // in the id
		{"001alpha", "[]"},                                       // not across id and name
		{"001\nalpha", "[]"},                                     // not even with the separator
		{"#42/X.", "[ORD#42/x.y]"},                               // punctuation in ids
		{"ord#42/x.y", "[ORD#42/x.y]"},                           // the whole id
		{"STRASSE", "[ORD#42/x.y]"},                              // full case folding: ß is ss
		{"zoë", "[ORD#42/x.y]"},                                  // non-ASCII, same case
		{"ZOË STR", "[ORD#42/x.y]"},                              // non-ASCII upper case
		{"σίσυφος", "[user@example.com]"},                        // Greek, final sigma
		{"ΕΛΛΆΣ", "[user@example.com]"},                          // Greek upper case
		{"@EXAMPLE.", "[user@example.com]"},                      // punctuation
		{"éclair-", "[ÉCLAIR-7]"},                                // non-ASCII id
		{"ünïcode cr", "[ÉCLAIR-7]"},                             // non-ASCII name
		{"100%", "[b_100%]"},                                     // LIKE wildcards are literal
		{"b_1", "[b_100%]"},                                      // …
		{"'quoted' \"dou", "[b_100%]"},                           // quotes (FTS5 syntax)
		{"\"", "[b_100%]"},                                       // one character
		{"%", "[b_100%]"},                                        // one wildcard
		{"_", "[b_100%]"},                                        // …
		{"ë", "[ORD#42/x.y]"},                                    // one non-ASCII character
		{"Ë", "[ORD#42/x.y]"},                                    // …in another case
		{"42", "[ORD#42/x.y]"},                                   // two characters
		{"AL", "[cust-001]"},                                     // …in another case
		{"a", "[ORD#42/x.y cust-001 user@example.com ÉCLAIR-7]"}, // one character, several
		{"λ", "[user@example.com]"},                              // one Greek character
		{"SS", "[ORD#42/x.y]"},                                   // ß folds to ss
		{"no such account", "[]"},                                // a miss
		{"zzz", "[]"},                                            // a miss of three
		{"gamma", "[cust-001]"},                                  // not the other tenant's
		{"alpha beta gamma", "[cust-001]"},                       // …
		{"ΣΊΣΥΦΟΣ ΕΛΛΆΣ", "[user@example.com]"},                  // the whole name
	} {
		if got := e.search(t, c.q); got != c.want {
			t.Errorf("q=%q: got %s, want %s", c.q, got, c.want)
		}
	}
}

// testSearchKeptByWrites checks that every write path keeps the search
// right: a rename, an upsert, an import's creates and updates, and a delete
// (after which the account's name finds nothing).
func testSearchKeptByWrites(t *testing.T, e *env) {
	e.create(t, e.t, "keep", "Original Name", nil)
	e.create(t, e.t, "doomed", "Doomed Quokka", map[string]string{"plan": `"pro"`})
	if got := e.search(t, "quokka"); got != "[doomed]" {
		t.Fatalf("before the delete: %s", got)
	}
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "doomed"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"quokka", "doomed", "doo"} {
		if got := e.search(t, q); got != "[]" {
			t.Errorf("after the delete, q=%q: %s", q, got)
		}
	}

	if _, _, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "keep", Name: ptr("Renamed Wombat")}); err != nil {
		t.Fatal(err)
	}
	if got := e.search(t, "original"); got != "[]" {
		t.Errorf("old name after a rename: %s", got)
	}
	if got := e.search(t, "WOMBAT"); got != "[keep]" {
		t.Errorf("new name after a rename: %s", got)
	}
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "upserted", Name: ptr("Fresh Numbat")}); err != nil {
		t.Fatal(err)
	}
	if got := e.search(t, "numbat"); got != "[upserted]" {
		t.Errorf("an upsert's create: %s", got)
	}
	// The id reused after the delete is found by its new name only.
	e.create(t, e.t, "doomed", "Reborn Platypus", nil)
	if got := e.search(t, "quokka") + e.search(t, "platypus"); got != "[][doomed]" {
		t.Errorf("a reused id: %s", got)
	}

	e.importBatch(t, map[string]linkd.AccountInput{
		"keep":     {AccountID: "keep", Name: ptr("Imported Bilby")},
		"imported": {AccountID: "imported", Name: ptr("Fresh Dunnart"), UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"enterprise"`)}},
	})
	for q, want := range map[string]string{"wombat": "[]", "bilby": "[keep]", "dunnart": "[imported]", "IMPORTED": "[imported keep]"} {
		if got := e.search(t, q); got != want {
			t.Errorf("after an import, q=%q: got %s, want %s", q, got, want)
		}
	}
}

// importBatch writes accounts as an import does: one batch of a claimed
// job, creating the absent and updating the present.
func (e *env) importBatch(t *testing.T, rows map[string]linkd.AccountInput) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	j := &linkd.ImportJob{ID: linkd.NewID(), OrgID: e.t.OrgID, Env: e.t.Env, Actor: "key-1", FileName: "a.csv", Mode: linkd.ImportCreate, CreatedAt: now}
	if err := e.store.CreateImportJob(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := e.store.QueueImportJob(e.ctx, e.t, j.ID, 0, int64(len(rows)), []string{"linked_account_id", "name"}, linkd.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	claimed, err := e.store.ClaimImportJob(e.ctx, linkd.Claim{Owner: "i1", Now: now, Lease: time.Minute})
	if err != nil || claimed == nil || claimed.ID != j.ID {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	var ids []string
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	_, err = e.store.CommitImportBatch(e.ctx, claimed, "i1", ids, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		b := &linkd.ImportBatch{}
		for _, id := range ids {
			a, _, err := e.svc.Apply(e.t, "import", cur[id], rows[id])
			if err != nil {
				return nil, err
			}
			a.ImportJob = j.ID
			if cur[id] == nil {
				b.Creates, b.Created = append(b.Creates, a), b.Created+1
			} else {
				b.Updates, b.Updated = append(b.Updates, a), b.Updated+1
			}
			b.Processed++
		}
		return b, nil
	}, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) udf(t *testing.T, kv ...string) string {
	t.Helper()
	f := linkd.AccountFilter{}
	for i := 0; i < len(kv); i += 2 {
		f.UDF = append(f.UDF, linkd.UDFMatch{Key: kv[i], Value: kv[i+1]})
	}
	return fmt.Sprint(e.ids(t, f))
}

// testUDFFilterKeptByWrites checks UDF filters through every write path:
// values of each kind, a changed and a removed key, an import, a delete,
// several filters at once and a long value.
func testUDFFilterKeptByWrites(t *testing.T, e *env) {
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	longer := string(long) + "z"
	e.create(t, e.t, "a1", "A", map[string]string{"plan": `"pro"`, "seats": `10`, "vip": `true`, "note": `"` + string(long) + `"`})
	e.create(t, e.t, "a2", "B", map[string]string{"plan": `"pro"`, "seats": `"10"`, "note": `"` + longer + `"`})
	e.create(t, e.t, "a3", "C", map[string]string{"plan": `"free"`, "seats": `2.5`})
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	e.create(t, other, "a1", "A", map[string]string{"plan": `"pro"`})

	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"plan", "pro"}, "[a1 a2]"},
		{[]string{"seats", "10"}, "[a1 a2]"}, // the number and the string
		{[]string{"seats", "2.5"}, "[a3]"},
		{[]string{"vip", "true"}, "[a1]"},
		{[]string{"plan", "pro", "seats", "10", "vip", "true"}, "[a1]"},
		{[]string{"vip", "true", "plan", "free"}, "[]"},
		{[]string{"note", string(long)}, "[a1]"},
		{[]string{"note", longer}, "[a2]"},
		{[]string{"plan", "PRO"}, "[]"},
	} {
		if got := e.udf(t, c.kv...); got != c.want {
			t.Errorf("udf %q: got %s, want %s", c.kv, got, c.want)
		}
	}
	// A changed value, a removed key, an added one.
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "a1", UDF: map[string]json.RawMessage{
		"plan": json.RawMessage(`"free"`), "vip": json.RawMessage(`null`), "region": json.RawMessage(`"eu"`)}}); err != nil {
		t.Fatal(err)
	}
	e.importBatch(t, map[string]linkd.AccountInput{
		"a3": {AccountID: "a3", UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}},
		"a4": {AccountID: "a4", Name: ptr("D"), UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`), "region": json.RawMessage(`"eu"`)}},
	})
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "a2"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{"plan", "pro"}, "[a3 a4]"},
		{[]string{"plan", "free"}, "[a1]"},
		{[]string{"vip", "true"}, "[]"},
		{[]string{"region", "eu"}, "[a1 a4]"},
		{[]string{"region", "eu", "plan", "pro"}, "[a4]"},
		{[]string{"seats", "10"}, "[a1]"},
		{[]string{"note", longer}, "[]"},
	} {
		if got := e.udf(t, c.kv...); got != c.want {
			t.Errorf("after writes, udf %q: got %s, want %s", c.kv, got, c.want)
		}
	}
	// A search and a filter together.
	if got := fmt.Sprint(e.ids(t, linkd.AccountFilter{Query: "a", UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}})); got != "[a3 a4]" {
		t.Errorf("search and filter: %s", got)
	}
}
