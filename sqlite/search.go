package sqlite

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// searchProbe is how many index matches (across tenants) make a query
// "common" for a page of limit accounts of a tenant of n. A rare query is
// answered from the index: its matches are read, sorted by id and paged,
// at a cost that grows with their number. A common one is answered by
// reading the tenant in id order and testing each row's search text, which
// finds a page after about limit × n / matches rows. The two cost the same
// near sqrt(limit × n × scan cost / match cost), so the crossover grows
// with the square root of the tenant: a fixed one set for 1M accounts
// sent queries matching 2,500–25,000 of 10M accounts to the scan, which
// read up to 200,000 rows for a page.
//
// Measured at 1M accounts with the scale benchmark's 1,000 queries (one
// client, pages of 50): the slowest were names matching 1,000–3,000
// accounts, scanned at 0.7–1.8 µs a row for 50–90 ms, where the index
// answers them in 10–25 ms. p99 by probe: 1,000 → 42 ms, 2,000 → 19,
// 2,500 → 21–25, 3,000 → 18, 5,000 → 30 (docs/BENCHMARKS.md): a scan
// costs about an eighth of a match, and sqrt(51 × 1M / 8) is 2,525.
func searchProbe(limit int, n int64) int {
	if searchProbeOverride > 0 {
		return searchProbeOverride
	}
	return max(minSearchProbe, int(math.Sqrt(float64(limit+1)*float64(n)/8)))
}

// minSearchProbe keeps small tenants on the index for queries that match
// a few accounts, whatever else the database holds.
const minSearchProbe = 100

// searchProbeOverride, when positive, is searchProbe's answer (tests force
// one path or the other with it).
var searchProbeOverride int

// fillSearch gives the accounts made before migration 0019 their search
// text and index row (at their key, searchkey.go), in batches of the
// primary key, inside the migration's transaction. The triggers index each
// as it is set.
func fillSearch(ctx context.Context, tx *wtx) error {
	type row struct{ org, env, id, accountID, name string }
	var last row
	for {
		rows, err := tx.QueryContext(ctx, `SELECT org_id, env, id, account_id, name FROM linked_accounts
			WHERE (org_id, env, id) > (?, ?, ?) ORDER BY org_id, env, id LIMIT 1000`, last.org, last.env, last.id)
		if err != nil {
			return fmt.Errorf("fill search text: %w", err)
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.org, &r.env, &r.id, &r.accountID, &r.name); err != nil {
				rows.Close()
				return fmt.Errorf("fill search text: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fill search text: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		for _, r := range batch {
			if _, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET search = ?, search_rowid = `+freeSearchRowid+` WHERE org_id = ? AND env = ? AND id = ?`,
				linkd.SearchText(r.accountID, r.name), searchKey(r.id), r.org, r.env, r.id); err != nil {
				return fmt.Errorf("fill search text: %w", err)
			}
		}
		last = batch[len(batch)-1]
	}
}

// afterMigration holds the steps in Go of migrations that need one, run in
// the migration's transaction after its SQL.
var afterMigration = map[int]func(context.Context, *wtx) error{
	19: fillSearch,
	33: rekeySearch,
}

// ftsPhrase quotes q as one FTS5 phrase: with the trigram tokenizer it
// matches q as a substring.
func ftsPhrase(q string) string {
	return `"` + strings.ReplaceAll(q, `"`, `""`) + `"`
}

// searchMatches returns the index rows (of any tenant) whose search text
// holds the folded query q, which must be SearchIndexable, when there are
// fewer than probe of them; rare is false when there are more.
func (s *Store) searchMatches(ctx context.Context, q string, probe int) (rowids string, rare bool, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rowid FROM account_search WHERE account_search MATCH ? LIMIT ?`, ftsPhrase(q), probe)
	if err != nil {
		return "", false, fmt.Errorf("search accounts: %w", err)
	}
	defer rows.Close()
	b := []byte{'['}
	n := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", false, fmt.Errorf("search accounts: %w", err)
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
		n++
	}
	if err := rows.Err(); err != nil {
		return "", false, fmt.Errorf("search accounts: %w", err)
	}
	return string(append(b, ']')), n < probe, nil
}
