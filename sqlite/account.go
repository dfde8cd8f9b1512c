package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// countSlots is how many rows a tenant's account count is spread over.
const countSlots = 16

const accountColumns = `id, account_id, name, udf, data_key, credentials, import_job, connected_apps, active_workflows, created_at, updated_at`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanAccount(row interface{ Scan(...any) error }) (*linkd.LinkedAccount, error) {
	var a linkd.LinkedAccount
	var created, updated int64
	var udf []byte
	var job sql.NullString
	if err := row.Scan(&a.ID, &a.AccountID, &a.Name, &udf, &a.DataKey, &a.Credentials, &job, &a.ConnectedApps, &a.ActiveWorkflows, &created, &updated); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	a.ImportJob = job.String
	var err error
	if a.UDF, err = linkd.DecodeUDF(a.ID, udf); err != nil {
		return nil, err
	}
	return &a, nil
}

// findAccount reads one account with its UDFs; ENOTFOUND when absent.
func findAccount(ctx context.Context, q querier, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.AccountNotFoundIn(t, accountID)
	} else if err != nil {
		return nil, fmt.Errorf("find account %q: %w", accountID, err)
	}
	return a, nil
}

// FindAccount implements linkd.AccountStore.
func (s *Store) FindAccount(ctx context.Context, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, error) {
	return findAccount(ctx, s.r, t, accountID)
}

// PutAccount implements linkd.AccountStore. The write connection serialises
// transactions, so the read and the write below cannot interleave with
// another writer's and fn runs exactly once.
func (s *Store) PutAccount(ctx context.Context, t linkd.Tenant, accountID string, fn linkd.PutFunc) (*linkd.LinkedAccount, bool, error) {
	var out *linkd.LinkedAccount
	var created bool
	err := s.tx(ctx, func(tx *wtx) error {
		cur, err := findAccount(ctx, tx, t, accountID)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			cur = nil
		} else if err != nil {
			return err
		}
		next, ev, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			if cur == nil {
				return fmt.Errorf("put account %q: nothing to write for a new account", accountID)
			}
			out = cur
			return nil
		}
		if cur == nil {
			created = true
			err = insertAccount(ctx, tx, t, next)
		} else {
			err = updateAccount(ctx, tx, t, next)
		}
		if err != nil {
			return err
		}
		out = next
		return insertAudit(ctx, tx, t, ev)
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// CreateAccount implements linkd.AccountStore. The insert itself finds a
// taken id (ON CONFLICT DO NOTHING), so a create needs no lookup first.
func (s *Store) CreateAccount(ctx context.Context, t linkd.Tenant, a *linkd.LinkedAccount, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_rowid)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+freeSearchRowid+`) ON CONFLICT DO NOTHING`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF),
			a.DataKey, a.Credentials, nullString(a.ImportJob), micros(a.CreatedAt), micros(a.UpdatedAt), linkd.SearchText(a.AccountID, a.Name), searchKey(a.ID))
		if err != nil {
			return fmt.Errorf("create account %q: %w", a.AccountID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("create account %q: %w", a.AccountID, err)
		} else if n == 0 {
			return linkd.AccountExists(t, a.AccountID)
		}
		if err := addCount(ctx, tx, t, a.AccountID, 1); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

func insertAccount(ctx context.Context, tx *wtx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_rowid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+freeSearchRowid+`)`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials,
		nullString(a.ImportJob), micros(a.CreatedAt), micros(a.UpdatedAt), linkd.SearchText(a.AccountID, a.Name), searchKey(a.ID))
	if err != nil {
		return fmt.Errorf("insert account %q: %w", a.AccountID, err)
	}
	return addCount(ctx, tx, t, a.AccountID, 1)
}

func updateAccount(ctx context.Context, tx *wtx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	_, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET name = ?, udf = ?, data_key = ?, credentials = ?, import_job = ?, updated_at = ?, search = ?
		WHERE org_id = ? AND env = ? AND id = ?`,
		a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials, nullString(a.ImportJob), micros(a.UpdatedAt), linkd.SearchText(a.AccountID, a.Name),
		t.OrgID, t.Env, a.ID)
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.AccountID, err)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// countSlot spreads a tenant's count over countSlots rows by account id.
func countSlot(accountID string) int {
	h := fnv.New32a()
	h.Write([]byte(accountID))
	return int(h.Sum32() % countSlots)
}

func addCount(ctx context.Context, tx *wtx, t linkd.Tenant, accountID string, delta int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, env, slot) DO UPDATE SET n = n + excluded.n`, t.OrgID, t.Env, countSlot(accountID), delta)
	if err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	return nil
}

// DeleteAccount implements linkd.AccountStore.
func (s *Store) DeleteAccount(ctx context.Context, t linkd.Tenant, accountID string, fn linkd.RemoveFunc) error {
	err := s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		conns, err := accountConnections(ctx, tx, t, acct.ID)
		if err != nil {
			return err
		}
		revs, ev, err := fn(acct, conns)
		if err != nil {
			return err
		}
		// Everything the account owns goes in the same transaction.
		for _, q := range []string{
			`DELETE FROM connections WHERE org_id = ? AND env = ? AND account_pk = ?`,
			`DELETE FROM configs WHERE org_id = ? AND env = ? AND account_pk = ?`,
			`DELETE FROM session_tokens WHERE org_id = ? AND env = ? AND account_pk = ?`,
			`DELETE FROM api_calls WHERE org_id = ? AND env = ? AND account_pk = ?`,
			`DELETE FROM linked_accounts WHERE org_id = ? AND env = ? AND id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, t.OrgID, t.Env, acct.ID); err != nil {
				return fmt.Errorf("delete account %q: %w", accountID, err)
			}
		}
		// Stored Idempotency-Key answers that hold the account's data go
		// too: a replay must not bring a deleted account back.
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID); err != nil {
			return fmt.Errorf("delete account %q: stored responses: %w", accountID, err)
		}
		if err := deleteAccountExecutions(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		// Before the delete's own event is written: that one is pending.
		if err := deleteAccountEvents(ctx, tx, t, accountID); err != nil {
			return err
		}
		if err := insertRevocations(ctx, tx, revs); err != nil {
			return err
		}
		for _, slug := range linkd.ConnectedSlugs(conns) {
			if err := addAppCount(ctx, tx, t, slug, -1); err != nil {
				return err
			}
		}
		if err := addCount(ctx, tx, t, accountID, -1); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
	if err == nil {
		// The deleted rows' old pages are still in the WAL.
		s.checkpointSoon()
	}
	return err
}

// ListAccounts implements linkd.AccountStore.
func (s *Store) ListAccounts(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter) (*linkd.AccountPage, error) {
	limit := pageLimit(f.Limit)

	// A large tenant's search reads its page from the index in order
	// (searchorder.go); its total is counted as before.
	q, err := s.planOrderedSearch(ctx, t, f)
	if err != nil {
		return nil, err
	}
	count := q
	if q == nil || !f.SkipTotal {
		if count, err = s.planAccounts(ctx, t, f, true); err != nil {
			return nil, err
		}
	}
	if q == nil {
		q = count
	}
	page := &linkd.AccountPage{Total: -1}
	if q.none {
		page.Total = 0
		return page, nil
	}
	appOnly := f.ConnectedApp != "" && f.Query == "" && f.CreatedAfter == nil && f.CreatedBefore == nil && len(f.UDF) == 0
	if !f.SkipTotal {
		var err error
		if appOnly {
			err = s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT n FROM app_counts WHERE org_id = ? AND env = ? AND slug = ?), 0)`,
				t.OrgID, t.Env, f.ConnectedApp).Scan(&page.Total)
		} else if count.filtered {
			err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+count.from+` WHERE `+strings.Join(count.where, " AND "), count.args...).Scan(&page.Total)
		} else {
			page.Total, err = s.accountCount(ctx, t)
		}
		if err != nil {
			return nil, fmt.Errorf("count accounts: %w", err)
		}
	}

	order := "ASC"
	cmp := ">"
	if f.Desc {
		order, cmp = "DESC", "<"
	}
	where, args := q.where, q.args
	offset := 0
	if f.Cursor != "" && q.bound != "" {
		where = append(where, q.key+" "+cmp+" "+q.bound)
		args = append(args, q.boundArgs(f.Cursor)...)
	} else if f.Cursor != "" {
		where = append(where, q.key+" "+cmp+" ?")
		args = append(args, f.Cursor)
	} else {
		offset = max(f.Offset, 0)
	}
	args = append(args, limit+1, offset)
	query := `SELECT ` + q.columns + ` FROM ` + q.from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + q.key + ` ` + order + ` LIMIT ? OFFSET ?`
	if appOnly {
		// The page's ids come from the index connections_slug, in order
		// and limited there, so a page costs the same whether the app has
		// a hundred accounts or a million (an IN over the whole set would
		// read all of them first).
		args = []any{t.OrgID, t.Env, t.OrgID, t.Env, f.ConnectedApp}
		bound := ""
		if f.Cursor != "" {
			bound, args = " AND account_pk "+cmp+" ?", append(args, f.Cursor)
		}
		args = append(args, limit+1, offset)
		query = `SELECT ` + accountColumns + ` FROM linked_accounts WHERE org_id = ? AND env = ? AND id IN (
			SELECT DISTINCT account_pk FROM connections WHERE org_id = ? AND env = ? AND slug = ?` + bound + `
			ORDER BY account_pk ` + order + ` LIMIT ? OFFSET ?) ORDER BY id ` + order
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		page.Accounts = append(page.Accounts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Accounts) > limit {
		page.Accounts = page.Accounts[:limit]
		page.HasNext = true
		page.NextCursor = page.Accounts[limit-1].ID
	}
	return page, nil
}

// accountCount is how many accounts the tenant has, from its count slots.
func (s *Store) accountCount(ctx context.Context, t linkd.Tenant) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM account_counts WHERE org_id = ? AND env = ?`, t.OrgID, t.Env).Scan(&n)
	return n, err
}

// pageLimit is the page size a list asked for as the store applies it.
func pageLimit(limit int) int {
	if limit <= 0 {
		return linkd.DefaultPageLimit
	}
	return min(limit, linkd.MaxPageLimit)
}

// accountQuery is how a list reads: the table that drives it (the accounts
// in id order, the search index, or one UDF filter's index rows, also in id
// order), the tests every row must pass, and the column that orders it.
type accountQuery struct {
	columns string // the account's columns, qualified by a.
	from    string // linked_accounts is a
	where   []string
	args    []any
	key     string // the order and cursor column
	// bound, when set, is the SQL of key's value at a cursor (an account
	// id), with boundArgs(cursor) for its placeholders; else the cursor is
	// key's value.
	bound     string
	boundArgs func(cursor string) []any
	filtered  bool // some filter beyond the tenant
	none      bool // nothing can match
}

// qualifiedColumns are accountColumns of the account aliased a.
var qualifiedColumns = "a." + strings.ReplaceAll(accountColumns, ", ", ", a.")

// planAccounts builds the read of f's accounts (not its paging). With
// indexes, a rare search is driven by the search index and otherwise a UDF
// filter drives by its index rows; without (a full export), the accounts
// are read in id order and every filter is a test.
func (s *Store) planAccounts(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, indexes bool) (*accountQuery, error) {
	q := &accountQuery{columns: qualifiedColumns, from: `linked_accounts a`, key: "a.id",
		where: []string{"a.org_id = ?", "a.env = ?"}, args: []any{t.OrgID, t.Env}}
	test := func(cond string, args ...any) {
		q.where = append(q.where, cond)
		q.args = append(q.args, args...)
		q.filtered = true
	}
	udf := f.UDF
	rare := false
	if f.Query != "" {
		text := linkd.FoldSearch(f.Query)
		if !linkd.SearchCanMatch(text) {
			q.none = true
			return q, nil
		}
		var matches string
		if indexes && linkd.SearchIndexable(text) {
			n, err := s.accountCount(ctx, t)
			if err != nil {
				return nil, fmt.Errorf("search accounts: %w", err)
			}
			if matches, rare, err = s.searchMatches(ctx, text, searchProbe(pageLimit(f.Limit), n)); err != nil {
				return nil, err
			}
		}
		if rare {
			// The search index gave the matches of every tenant (as a JSON
			// array); linked_accounts_search_rowid holds each one's tenant
			// and id, so the set of ids comes from that index alone (in id
			// order), and only the accounts of the page are read. The text
			// is tested again: an index row deleted and reused since the
			// search read it may name another account now.
			test(`a.id IN (SELECT k.id FROM linked_accounts k INDEXED BY linked_accounts_search_rowid
				WHERE k.search_rowid IN (SELECT value FROM json_each(?)) AND k.org_id = ? AND k.env = ?)`, matches, t.OrgID, t.Env)
		}
		test(`instr(a.search, ?) > 0`, text)
	}
	if !rare && indexes && len(udf) > 0 {
		first, err := s.udf.Rarest(ctx, t, udf)
		if err != nil {
			return nil, err
		}
		m := udf[first]
		udf = append(append([]linkd.UDFMatch(nil), udf[:first]...), udf[first+1:]...)
		// The filter's index rows come in id order: a page reads about
		// limit of them when the rest of the filters pass most rows.
		q.from, q.key = `account_udf u CROSS JOIN linked_accounts a`, "u.account_pk"
		test(`u.org_id = a.org_id AND u.env = a.env AND u.key = ? AND u.value = ? AND a.id = u.account_pk`, m.Key, m.Value)
	}
	accountTests(f, test)
	for _, m := range udf {
		// account_udf's primary key answers it with one lookup.
		test(`EXISTS (SELECT 1 FROM account_udf x WHERE x.org_id = a.org_id AND x.env = a.env AND x.key = ? AND x.value = ? AND x.account_pk = a.id)`,
			m.Key, m.Value)
	}
	return q, nil
}

// accountTests adds f's creation-time and connected-app filters as tests
// of each account a, for the plans of planAccounts and planOrderedSearch.
func accountTests(f linkd.AccountFilter, test func(cond string, args ...any)) {
	// Ids are UUIDv7 of the creation time: the id bound lets the primary key
	// narrow the scan, the created_at test makes it exact.
	if f.CreatedAfter != nil {
		test("a.id >= ? AND a.created_at > ?", linkd.IDBound(*f.CreatedAfter, false), micros(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		test("a.id <= ? AND a.created_at < ?", linkd.IDBound(*f.CreatedBefore, true), micros(*f.CreatedBefore))
	}
	if f.ConnectedApp != "" {
		// connections_slug (org_id, env, slug, account_pk) answers it.
		test(`EXISTS (SELECT 1 FROM connections c WHERE c.org_id = a.org_id AND c.env = a.env AND c.slug = ? AND c.account_pk = a.id)`, f.ConnectedApp)
	}
}

// countUDF counts the tenant's index rows of m, up to limit (for
// linkd.UDFPlanner).
func (s *Store) countUDF(ctx context.Context, t linkd.Tenant, m linkd.UDFMatch, limit int) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM account_udf WHERE org_id = ? AND env = ? AND key = ? AND value = ? LIMIT ?)`,
		t.OrgID, t.Env, m.Key, m.Value, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("list accounts: %w", err)
	}
	return n, nil
}

// EachAccount implements linkd.AccountStore. One statement reads one
// snapshot (WAL), however long fn takes.
func (s *Store) EachAccount(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, fn func(*linkd.LinkedAccount) error) error {
	q, err := s.planAccounts(ctx, t, f, false)
	if err != nil || q.none {
		return err
	}
	order := "ASC"
	if f.Desc {
		order = "DESC"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+q.columns+` FROM `+q.from+` WHERE `+strings.Join(q.where, " AND ")+` ORDER BY a.id `+order, q.args...)
	if err != nil {
		return fmt.Errorf("scan accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}
