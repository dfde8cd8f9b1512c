package sqlite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// TestSearchTimings measures, on a database the scale benchmark seeded
// (LINKD_SEARCH_TIMING_DB, a copy: opening it migrates it; its org in
// LINKD_SEARCH_TIMING_ORG), how long opening takes (migration 0033 when the
// database predates it), 1,000 searches through the store by one client on
// the old paths and on the index read in order (pages of 50, no totals;
// substrings of 3–12 characters of random accounts' ids and names, one in
// ten matching nothing, as the benchmark's), and what allocating the index
// rows of an import batch of 2,000 costs beside writing it. It reports;
// it asserts only that both paths find the same pages. docs/BENCHMARKS.md
// has its figures.
func TestSearchTimings(t *testing.T) {
	path, org := os.Getenv("LINKD_SEARCH_TIMING_DB"), os.Getenv("LINKD_SEARCH_TIMING_ORG")
	if path == "" || org == "" {
		t.Skip("LINKD_SEARCH_TIMING_DB and LINKD_SEARCH_TIMING_ORG name a database to measure")
	}
	ctx := t.Context()
	start := time.Now()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("open (and migrate): %v", time.Since(start).Round(time.Millisecond))
	tn := linkd.Tenant{OrgID: org, Env: linkd.EnvTest}

	rng := rand.New(rand.NewPCG(1, 14))
	rows, err := s.read.QueryContext(ctx, `SELECT account_id, name FROM linked_accounts WHERE org_id = ? AND env = ? ORDER BY random() LIMIT 1000`, org, tn.Env)
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for rows.Next() {
		var id, name string
		rows.Scan(&id, &name)
		l := 3 + rng.IntN(10)
		if len(queries)%10 == 9 {
			b := []byte("~")
			for len(b) < l {
				b = append(b, byte('a'+rng.IntN(26)))
			}
			queries = append(queries, string(b))
			continue
		}
		src := id
		if rng.IntN(2) == 0 {
			src = name
		}
		l = min(l, len(src))
		at := rng.IntN(len(src) - l + 1)
		queries = append(queries, src[at:at+l])
	}
	rows.Close()

	defer func(v int) { searchOrderOverride = v }(searchOrderOverride)
	pages := map[string][]string{}
	for _, mode := range []struct {
		name    string
		ordered int
		desc    bool // newest first, as the dashboard lists
	}{{"old paths", -1, false}, {"in order", 1, false}, {"old paths", -1, false}, {"in order", 1, false},
		{"old paths, newest first", -1, true}, {"in order, newest first", 1, true}} {
		searchOrderOverride = mode.ordered
		var took []time.Duration
		total := time.Now()
		for _, q := range queries {
			at := time.Now()
			p, err := s.ListAccounts(ctx, tn, linkd.AccountFilter{Query: q, Limit: 50, SkipTotal: true, Desc: mode.desc})
			if err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(at))
			var ids []string
			for _, a := range p.Accounts {
				ids = append(ids, a.ID)
			}
			key := fmt.Sprint(q, mode.desc)
			if prev, ok := pages[key]; ok && !slices.Equal(prev, ids) {
				t.Errorf("%q: the paths disagree", q)
			}
			pages[key] = ids
		}
		slices.Sort(took)
		t.Logf("%s: 1,000 searches in %v, p50 %v, p99 %v, max %v", mode.name, time.Since(total).Round(time.Millisecond),
			took[len(took)/2].Round(10*time.Microsecond), took[len(took)*99/100].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
	}

	// An import batch of 2,000 new accounts, rolled back: the allocation
	// alone, then the whole write.
	batch := make([]*linkd.LinkedAccount, 2000)
	ids := make([]string, len(batch))
	errRollback := errors.New("rollback")
	for round := range 3 {
		now := time.Now().UTC()
		for i := range batch {
			batch[i] = &linkd.LinkedAccount{ID: linkd.NewIDAt(now), AccountID: fmt.Sprintf("timing-%d-%d", round, i), Name: "Timing Account", CreatedAt: now, UpdatedAt: now}
			ids[i] = batch[i].ID
		}
		var alloc, write time.Duration
		err := s.tx(ctx, func(tx *wtx) error {
			at := time.Now()
			if _, err := searchRowids(ctx, tx, ids); err != nil {
				return err
			}
			alloc = time.Since(at)
			at = time.Now()
			if err := s.insertAccounts(ctx, tx, tn, batch); err != nil {
				return err
			}
			write = time.Since(at)
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		t.Logf("batch of 2,000: allocating the index rows %v; the insert with them %v", alloc.Round(10*time.Microsecond), write.Round(100*time.Microsecond))
	}
}
