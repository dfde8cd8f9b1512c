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
		res, err := tx.ExecContext(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF),
			a.DataKey, a.Credentials, nullString(a.ImportJob), micros(a.CreatedAt), micros(a.UpdatedAt))
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
	_, err := tx.ExecContext(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials,
		nullString(a.ImportJob), micros(a.CreatedAt), micros(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("insert account %q: %w", a.AccountID, err)
	}
	return addCount(ctx, tx, t, a.AccountID, 1)
}

func updateAccount(ctx context.Context, tx *wtx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	_, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET name = ?, udf = ?, data_key = ?, credentials = ?, import_job = ?, updated_at = ?
		WHERE org_id = ? AND env = ? AND id = ?`,
		a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials, nullString(a.ImportJob), micros(a.UpdatedAt), t.OrgID, t.Env, a.ID)
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
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)

	where, args, filtered := accountWhere(t, f)
	appOnly := f.ConnectedApp != "" && f.Query == "" && f.CreatedAfter == nil && f.CreatedBefore == nil && len(f.UDF) == 0
	page := &linkd.AccountPage{Total: -1}
	if !f.SkipTotal {
		var err error
		if appOnly {
			err = s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT n FROM app_counts WHERE org_id = ? AND env = ? AND slug = ?), 0)`,
				t.OrgID, t.Env, f.ConnectedApp).Scan(&page.Total)
		} else if filtered {
			err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM linked_accounts WHERE `+strings.Join(where, " AND "), args...).Scan(&page.Total)
		} else {
			err = s.r.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM account_counts WHERE org_id = ? AND env = ?`, t.OrgID, t.Env).Scan(&page.Total)
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
	offset := 0
	if f.Cursor != "" {
		where = append(where, "id "+cmp+" ?")
		args = append(args, f.Cursor)
	} else {
		offset = max(f.Offset, 0)
	}
	args = append(args, limit+1, offset)
	query := `SELECT ` + accountColumns + ` FROM linked_accounts WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id ` + order + ` LIMIT ? OFFSET ?`
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

// accountWhere builds the WHERE clause of f's filters (not its paging).
func accountWhere(t linkd.Tenant, f linkd.AccountFilter) (where []string, args []any, filtered bool) {
	where = []string{"org_id = ?", "env = ?"}
	args = []any{t.OrgID, t.Env}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		where = append(where, `(account_id LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`)
		args = append(args, like, like)
		filtered = true
	}
	// Ids are UUIDv7 of the creation time: the id bound lets the primary key
	// narrow the scan, the created_at test makes it exact.
	if f.CreatedAfter != nil {
		where = append(where, "id >= ?", "created_at > ?")
		args = append(args, linkd.IDBound(*f.CreatedAfter, false), micros(*f.CreatedAfter))
		filtered = true
	}
	if f.CreatedBefore != nil {
		where = append(where, "id <= ?", "created_at < ?")
		args = append(args, linkd.IDBound(*f.CreatedBefore, true), micros(*f.CreatedBefore))
		filtered = true
	}
	if f.ConnectedApp != "" {
		// connections_slug (org_id, env, slug, account_pk) yields the set.
		where = append(where, `id IN (SELECT account_pk FROM connections WHERE org_id = ? AND env = ? AND slug = ?)`)
		args = append(args, t.OrgID, t.Env, f.ConnectedApp)
		filtered = true
	}
	for _, m := range f.UDF {
		// A string matches a text value; a number or boolean its literal.
		where = append(where, `EXISTS (SELECT 1 FROM json_each(udf) j WHERE j.key = ? AND (
			(json_type(j.value, '$.v') = 'text' AND json_extract(j.value, '$.v') = ?) OR
			(json_type(j.value, '$.v') IN ('integer', 'real', 'true', 'false') AND (j.value -> '$.v') = ?)))`)
		args = append(args, m.Key, m.Value, m.Value)
		filtered = true
	}

	return where, args, filtered
}

// EachAccount implements linkd.AccountStore. One statement reads one
// snapshot (WAL), however long fn takes.
func (s *Store) EachAccount(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, fn func(*linkd.LinkedAccount) error) error {
	where, args, _ := accountWhere(t, f)
	order := "ASC"
	if f.Desc {
		order = "DESC"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountColumns+` FROM linked_accounts WHERE `+strings.Join(where, " AND ")+` ORDER BY id `+order, args...)
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

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
