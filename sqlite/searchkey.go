package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// An account's search_rowid (its row in the FTS5 index account_search) is
// a key of its id that sorts as the id does, so that the index hands out an
// account's matches in the order of the account list, and a page of a large
// tenant stops after limit+1 of them (searchorder.go) instead of reading
// every match and sorting them, or scanning the tenant for the text.
//
// Account ids are UUIDv7 (linkd.NewIDAt, or linkd.NewID in tests): 48 bits
// of milliseconds, the version, 12 bits that order ids within a millisecond,
// the variant, then random bits. The key keeps the milliseconds, the 12
// bits, and the first 8 random bits:
//
//	key = ms<<20 | seq<<8 | rand8
//
// so key(a) < key(b) implies id(a) < id(b) for ids of one version and
// variant (all of linkd's). It stays below 2^63 until the year 2248. Two
// ids may share a key only when they come from different processes (ids of
// one process increase in their first 60 bits) or a clock stepped back, and
// then only with 1 chance in 256: the later insert takes the next free value
// above the key (freeSearchRowid, searchRowids), and such a pair may page in
// the order of its rowids rather than exactly in id order.
//
// An id that is not a UUID of a time before 2248 (none that linkd makes)
// has key 0: it takes the first free value, and pages by the index in the
// order it was inserted, before the others.

// searchKey is the order-preserving key of the account id.
func searchKey(id string) int64 {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0
	}
	var ms, seq, tb uint64
	for _, i := range [...]int{0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12} {
		h, ok := hexDigit(id[i])
		if !ok {
			return 0
		}
		ms = ms<<4 | h
	}
	// id[14] is the version.
	for _, i := range [...]int{15, 16, 17} {
		h, ok := hexDigit(id[i])
		if !ok {
			return 0
		}
		seq = seq<<4 | h
	}
	// The byte at 19–20 holds the variant in its top 2 bits; the 8 bits
	// after it end at the top 2 bits of the digit at 21.
	for _, i := range [...]int{19, 20, 21} {
		h, ok := hexDigit(id[i])
		if !ok {
			return 0
		}
		tb = tb<<4 | h
	}
	if _, ok := hexDigit(id[14]); !ok || ms >= 1<<43 {
		return 0
	}
	tb = (tb >> 2) & 0xff
	return int64(ms<<20 | seq<<8 | tb)
}

func hexDigit(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// searchKeyIDs is a GLOB that the ids searchKeySQL computes keys for match:
// lower-case UUIDs before 2248 (ms below 2^43: the first digit 0, the second
// below 8). Others get theirs from searchKey in Go.
var searchKeyIDs = func() string {
	var b strings.Builder
	b.WriteString("0[0-7]")
	for i := 2; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			b.WriteByte('-')
		} else {
			b.WriteString("[0-9a-f]")
		}
	}
	return b.String()
}()

// searchKeySQL is searchKey of the column col in SQL, for ids matching
// searchKeyIDs: the migration keys a million accounts in one UPDATE with it,
// where an UPDATE a row from Go costs ten times as much.
func searchKeySQL(col string) string {
	digit := func(i int) string {
		return `(instr('0123456789abcdef', substr(` + col + `, ` + strconv.Itoa(i+1) + `, 1)) - 1)`
	}
	var terms []string
	shift := 20 + 44
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12} {
		terms = append(terms, fmt.Sprintf("(%s << %d)", digit(i), shift))
		shift -= 4
	}
	terms = append(terms,
		fmt.Sprintf("(%s << 16)", digit(15)), fmt.Sprintf("(%s << 12)", digit(16)), fmt.Sprintf("(%s << 8)", digit(17)),
		fmt.Sprintf("((%s & 3) << 6)", digit(19)), fmt.Sprintf("(%s << 2)", digit(20)), fmt.Sprintf("(%s >> 2)", digit(21)))
	return "(" + strings.Join(terms, " | ") + ")"
}

// freeSearchRowid is the first search_rowid at or above the key bound to
// its ?, which is the key itself unless an account holds it already. Only
// the one writer connection inserts, so two inserts cannot take the same.
const freeSearchRowid = `(WITH RECURSIVE f(v) AS (SELECT ? UNION ALL SELECT v + 1 FROM f
	WHERE EXISTS (SELECT 1 FROM linked_accounts WHERE search_rowid = f.v)) SELECT max(v) FROM f)`

// searchRowids allocates the index rows of accounts inserted together (in
// one multi-row INSERT, where freeSearchRowid cannot see the statement's
// own rows): each its key, or the next free value above it. One lookup of
// the batch's keys finds those taken (none, nearly always).
func searchRowids(ctx context.Context, tx *wtx, ids []string) ([]int64, error) {
	rowids := make([]int64, len(ids))
	pending := make([]int, len(ids))
	for i, id := range ids {
		rowids[i], pending[i] = searchKey(id), i
	}
	used := make(map[int64]bool, len(ids))
	for len(pending) > 0 {
		taken, err := takenSearchRowids(ctx, tx, rowids, pending)
		if err != nil {
			return nil, err
		}
		next := pending[:0]
		for _, i := range pending {
			if v := rowids[i]; taken[v] || used[v] {
				rowids[i] = v + 1
				next = append(next, i)
			} else {
				used[v] = true
			}
		}
		pending = next
	}
	return rowids, nil
}

// takenSearchRowids is which of the rowids at the positions pending are in
// use (by accounts already written).
func takenSearchRowids(ctx context.Context, tx *wtx, rowids []int64, pending []int) (map[int64]bool, error) {
	b := []byte{'['}
	for n, i := range pending {
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, rowids[i], 10)
	}
	rows, err := tx.QueryContext(ctx, `SELECT search_rowid FROM linked_accounts
		WHERE search_rowid IN (SELECT value FROM json_each(?))`, string(append(b, ']')))
	if err != nil {
		return nil, fmt.Errorf("allocate search rows: %w", err)
	}
	defer rows.Close()
	taken := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("allocate search rows: %w", err)
		}
		taken[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("allocate search rows: %w", err)
	}
	return taken, nil
}

// rekeySearch (migration 0033) gives every account the search_rowid of its
// key and rebuilds the index under the new rowids. One UPDATE OR IGNORE
// keys every id searchKeySQL can (a key is above 2^60 for any id of this
// century, the old rowids count accounts from 1, so the two do not meet):
// an account whose key another took before it (in primary key order) keeps
// its old rowid, and gets the next free value from Go afterwards; an id
// that is no UUID keeps its old rowid, as unique as any. One pass over the
// table, which the UPDATE rewrites whole (1.2 GB at a million accounts).
// The index is contentless, so it is emptied ('delete-all', which keeps
// its secure-delete setting) and refilled from the accounts in rowid order.
func rekeySearch(ctx context.Context, tx *wtx) error {
	key := searchKeySQL("id")
	if _, err := tx.ExecContext(ctx, `UPDATE OR IGNORE linked_accounts SET search_rowid = `+key+` WHERE id GLOB '`+searchKeyIDs+`'`); err != nil {
		return fmt.Errorf("key search rows: %w", err)
	}
	type row struct{ org, env, id string }
	var left []row
	rows, err := tx.QueryContext(ctx, `SELECT org_id, env, id FROM linked_accounts
		WHERE id GLOB '`+searchKeyIDs+`' AND search_rowid IS NOT `+key)
	if err != nil {
		return fmt.Errorf("key search rows: %w", err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.org, &r.env, &r.id); err != nil {
			rows.Close()
			return fmt.Errorf("key search rows: %w", err)
		}
		left = append(left, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("key search rows: %w", err)
	}
	for _, r := range left {
		if _, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET search_rowid = `+freeSearchRowid+` WHERE org_id = ? AND env = ? AND id = ?`,
			searchKey(r.id), r.org, r.env, r.id); err != nil {
			return fmt.Errorf("key search rows: %w", err)
		}
	}
	for _, q := range []string{
		`INSERT INTO account_search (account_search) VALUES ('delete-all')`,
		`INSERT INTO account_search (rowid, search) SELECT search_rowid, search FROM linked_accounts INDEXED BY linked_accounts_search_rowid
			WHERE search_rowid IS NOT NULL AND search IS NOT NULL`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rebuild search index: %w", err)
		}
	}
	return nil
}

// SearchKey is the search_rowid the store gives an account of id when no
// other account holds it: for a writer that mirrors the store's inserts
// (the benchmark's seed).
func SearchKey(id string) int64 { return searchKey(id) }
