package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// A search of a tenant that holds a large share of the database reads its
// page from the search index in rowid order, which is the account order
// (searchkey.go): FTS5 returns the matches of every tenant in rowid order,
// each is joined to its account by linked_accounts_search_rowid and tested,
// and the read stops after limit+1 accounts of the tenant. A page then
// costs about (limit+1) ÷ share matches, whether the text matches a hundred
// accounts or a million, where the probe and the scan (searchProbe) pay for
// every match up to the probe and then for the rows scanned: at 10M
// accounts a query matching 8,000 paid 53–66 ms for the probe alone.
//
// A small tenant keeps the probe and the scan: its matches are a small
// share of the index's, so reading the index in order would pass over many
// other tenants' matches for each of its own.

// searchOrderShare is the share of all accounts a tenant must hold for its
// searches to read the index in order: at a quarter, a page reads about
// 4 × 51 matches of any tenant (a millisecond or two), cheaper than any
// probe worth the name.
const searchOrderShare = 0.25

// searchOrderOverride, when nonzero, decides for every indexable search:
// 1 reads the index in order, -1 never does (tests force the paths with it).
var searchOrderOverride int

// accountTotal caches the number of accounts of all tenants, read at most
// once in totalTTL: the share it decides by only needs to be about right,
// and the sum reads every tenant's count slots.
type accountTotal struct {
	mu sync.Mutex
	n  int64
	at time.Time
}

const totalTTL = 10 * time.Second

func (s *Store) allAccounts(ctx context.Context) (int64, error) {
	c := &s.total
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < totalTTL {
		return c.n, nil
	}
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM account_counts`).Scan(&c.n); err != nil {
		return 0, fmt.Errorf("count all accounts: %w", err)
	}
	c.at = time.Now()
	return c.n, nil
}

// planOrderedSearch builds a page read driven by the search index in rowid
// order, or returns nil when f is better served by planAccounts: no search,
// a text the index cannot serve (one or two characters), a UDF filter
// (whose own index drives the read), or a tenant with a small share of the
// accounts. Its cursor is an account id: the bound is that account's
// search_rowid, or its key when it is gone.
func (s *Store) planOrderedSearch(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter) (*accountQuery, error) {
	if f.Query == "" || len(f.UDF) > 0 || searchOrderOverride < 0 {
		return nil, nil
	}
	text := linkd.FoldSearch(f.Query)
	if !linkd.SearchCanMatch(text) || !linkd.SearchIndexable(text) {
		return nil, nil
	}
	if searchOrderOverride == 0 {
		n, err := s.accountCount(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("search accounts: %w", err)
		}
		all, err := s.allAccounts(ctx)
		if err != nil {
			return nil, err
		}
		if float64(n) < searchOrderShare*float64(all) {
			return nil, nil
		}
	}
	// CROSS JOIN keeps the index outside, where FTS5 consumes the ORDER BY
	// s.rowid (no sort) and the LIMIT ends the read.
	q := &accountQuery{columns: qualifiedColumns, key: "s.rowid", filtered: true,
		from:  `account_search s CROSS JOIN linked_accounts a INDEXED BY linked_accounts_search_rowid`,
		where: []string{"s.account_search MATCH ?", "a.search_rowid = s.rowid", "a.org_id = ?", "a.env = ?", "instr(a.search, ?) > 0"},
		args:  []any{ftsPhrase(text), t.OrgID, t.Env, text},
		bound: `coalesce((SELECT search_rowid FROM linked_accounts WHERE org_id = ? AND env = ? AND id = ?), ?)`,
		boundArgs: func(cursor string) []any {
			return []any{t.OrgID, t.Env, cursor, searchKey(cursor)}
		},
	}
	// The other filters are tests of each account, as in planAccounts.
	accountTests(f, func(cond string, args ...any) {
		q.where = append(q.where, cond)
		q.args = append(q.args, args...)
	})
	return q, nil
}
