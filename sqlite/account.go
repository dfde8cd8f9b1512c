package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// countSlots is how many rows a tenant's account count is spread over.
const countSlots = 16

const accountColumns = `id, account_id, name, data_key, credentials, created_at, updated_at`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanAccount(row interface{ Scan(...any) error }) (*linkd.LinkedAccount, error) {
	var a linkd.LinkedAccount
	var created, updated int64
	if err := row.Scan(&a.ID, &a.AccountID, &a.Name, &a.DataKey, &a.Credentials, &created, &updated); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &a, nil
}

// findAccount reads one account with its UDFs; ENOTFOUND when absent.
func findAccount(ctx context.Context, q querier, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "Linked Account with account id %s for org %s in environment %s not found", accountID, t.OrgID, t.Env)
	} else if err != nil {
		return nil, fmt.Errorf("find account %q: %w", accountID, err)
	}
	if err := loadUDF(ctx, q, t, []*linkd.LinkedAccount{a}); err != nil {
		return nil, err
	}
	return a, nil
}

// loadUDF fills in the UDFs of accts with one query.
func loadUDF(ctx context.Context, q querier, t linkd.Tenant, accts []*linkd.LinkedAccount) error {
	if len(accts) == 0 {
		return nil
	}
	byID := make(map[string]*linkd.LinkedAccount, len(accts))
	args := make([]any, 0, len(accts)+2)
	args = append(args, t.OrgID, t.Env)
	for _, a := range accts {
		byID[a.ID] = a
		args = append(args, a.ID)
	}
	rows, err := q.QueryContext(ctx, `SELECT account_pk, key, value, id, created_at, updated_at FROM account_udf
		WHERE org_id = ? AND env = ? AND account_pk IN (`+placeholders(len(accts))+`) ORDER BY account_pk, key`, args...)
	if err != nil {
		return fmt.Errorf("load udf: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pk, value string
		var u linkd.UDF
		var created, updated int64
		if err := rows.Scan(&pk, &u.Key, &value, &u.ID, &created, &updated); err != nil {
			return err
		}
		u.Value = json.RawMessage(value)
		u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
		if a := byID[pk]; a != nil {
			a.UDF = append(a.UDF, u)
		}
	}
	return rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// FindAccount implements linkd.AccountStore.
func (s *Store) FindAccount(ctx context.Context, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, error) {
	return findAccount(ctx, s.read, t, accountID)
}

// PutAccount implements linkd.AccountStore. The write connection serialises
// transactions, so the read and the write below cannot interleave with
// another writer's and fn runs exactly once.
func (s *Store) PutAccount(ctx context.Context, t linkd.Tenant, accountID string, fn linkd.PutFunc) (*linkd.LinkedAccount, bool, error) {
	var out *linkd.LinkedAccount
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
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

func insertAccount(ctx context.Context, tx *sql.Tx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, data_key, credentials, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, a.DataKey, a.Credentials, micros(a.CreatedAt), micros(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("insert account %q: %w", a.AccountID, err)
	}
	if err := insertUDF(ctx, tx, t, a); err != nil {
		return err
	}
	return addCount(ctx, tx, t, a.AccountID, 1)
}

func updateAccount(ctx context.Context, tx *sql.Tx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	_, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET name = ?, credentials = ?, updated_at = ? WHERE org_id = ? AND env = ? AND id = ?`,
		a.Name, a.Credentials, micros(a.UpdatedAt), t.OrgID, t.Env, a.ID)
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.AccountID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_udf WHERE org_id = ? AND env = ? AND account_pk = ?`, t.OrgID, t.Env, a.ID); err != nil {
		return fmt.Errorf("update account %q: %w", a.AccountID, err)
	}
	return insertUDF(ctx, tx, t, a)
}

func insertUDF(ctx context.Context, tx *sql.Tx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	if len(a.UDF) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO account_udf (org_id, env, account_pk, key, value, id, created_at, updated_at) VALUES `)
	args := make([]any, 0, 8*len(a.UDF))
	for i, u := range a.UDF {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?)")
		args = append(args, t.OrgID, t.Env, a.ID, u.Key, string(u.Value), u.ID, micros(u.CreatedAt), micros(u.UpdatedAt))
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("insert udf of %q: %w", a.AccountID, err)
	}
	return nil
}

// countSlot spreads a tenant's count over countSlots rows by account id.
func countSlot(accountID string) int {
	h := fnv.New32a()
	h.Write([]byte(accountID))
	return int(h.Sum32() % countSlots)
}

func addCount(ctx context.Context, tx *sql.Tx, t linkd.Tenant, accountID string, delta int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, env, slot) DO UPDATE SET n = n + excluded.n`, t.OrgID, t.Env, countSlot(accountID), delta)
	if err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	return nil
}

// DeleteAccount implements linkd.AccountStore.
func (s *Store) DeleteAccount(ctx context.Context, t linkd.Tenant, accountID string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var pk string
		err := tx.QueryRowContext(ctx, `SELECT id FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID).Scan(&pk)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.Errorf(linkd.ENOTFOUND, "Linked Account with account id %s for org %s in environment %s not found", accountID, t.OrgID, t.Env)
		} else if err != nil {
			return fmt.Errorf("delete account %q: %w", accountID, err)
		}
		// Owned rows first, explicitly: correctness must not hang on the
		// foreign_keys pragma being on for every connection.
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_udf WHERE org_id = ? AND env = ? AND account_pk = ?`, t.OrgID, t.Env, pk); err != nil {
			return fmt.Errorf("delete account %q: %w", accountID, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM linked_accounts WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, pk); err != nil {
			return fmt.Errorf("delete account %q: %w", accountID, err)
		}
		if err := addCount(ctx, tx, t, accountID, -1); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// ListAccounts implements linkd.AccountStore.
func (s *Store) ListAccounts(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter) (*linkd.AccountPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)

	where := []string{"org_id = ?", "env = ?"}
	args := []any{t.OrgID, t.Env}
	filtered := false
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		where = append(where, `(account_id LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`)
		args = append(args, like, like)
		filtered = true
	}
	if f.CreatedAfter != nil {
		where = append(where, "created_at > ?")
		args = append(args, micros(*f.CreatedAfter))
		filtered = true
	}
	if f.CreatedBefore != nil {
		where = append(where, "created_at < ?")
		args = append(args, micros(*f.CreatedBefore))
		filtered = true
	}
	for _, m := range f.UDF {
		where = append(where, `id IN (SELECT account_pk FROM account_udf WHERE org_id = ? AND env = ? AND key = ? AND value IN (?, ?))`)
		args = append(args, t.OrgID, t.Env, m.Key, linkd.QuoteUDF(m.Value), m.Value)
		filtered = true
	}

	page := &linkd.AccountPage{Total: -1}
	if !f.SkipTotal {
		var err error
		if filtered {
			err = s.read.QueryRowContext(ctx, `SELECT count(*) FROM linked_accounts WHERE `+strings.Join(where, " AND "), args...).Scan(&page.Total)
		} else {
			err = s.read.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM account_counts WHERE org_id = ? AND env = ?`, t.OrgID, t.Env).Scan(&page.Total)
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
	rows, err := s.read.QueryContext(ctx, `SELECT `+accountColumns+` FROM linked_accounts WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id `+order+` LIMIT ? OFFSET ?`, args...)
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
	if err := loadUDF(ctx, s.read, t, page.Accounts); err != nil {
		return nil, err
	}
	return page, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
