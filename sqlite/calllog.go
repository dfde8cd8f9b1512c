package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.CallLogStore = (*Store)(nil)

// AppendCalls implements linkd.CallLogStore. The account is looked up by
// the insert itself, so a call of an account deleted meanwhile inserts
// nothing; the single writer orders it against the deletion.
func (s *Store) AppendCalls(ctx context.Context, calls []linkd.AppCall) error {
	if len(calls) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *wtx) error {
		for i := range calls {
			c := calls[i]
			c.Normalize()
			_, err := tx.ExecContext(ctx, `INSERT INTO api_calls (org_id, env, id, account_pk, slug, at, method, path, status, duration_us, attempts, error_type)
				SELECT org_id, env, ?, id, ?, ?, ?, ?, ?, ?, ?, ? FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?
				ON CONFLICT (id) DO NOTHING`,
				c.ID, c.Slug, micros(c.At), c.Method, c.Path, c.Status, c.Duration.Microseconds(), c.Attempts, c.ErrorType,
				c.Tenant.OrgID, c.Tenant.Env, c.AccountID)
			if err != nil {
				return fmt.Errorf("append calls: %w", err)
			}
		}
		return nil
	})
}

// accountPK is the primary key of the account accountID; ENOTFOUND when
// there is none.
func accountPK(ctx context.Context, q querier, t linkd.Tenant, accountID string) (string, error) {
	var pk string
	err := q.QueryRowContext(ctx, `SELECT id FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return "", linkd.Errorf(linkd.ENOTFOUND, "Linked Account with account id %s for org %s in environment %s not found", accountID, t.OrgID, t.Env)
	} else if err != nil {
		return "", fmt.Errorf("find account %q: %w", accountID, err)
	}
	return pk, nil
}

// CallStats implements linkd.CallLogStore.
func (s *Store) CallStats(ctx context.Context, t linkd.Tenant, accountID string, now time.Time) (*linkd.CallStats, error) {
	pk, err := accountPK(ctx, s.r, t, accountID)
	if err != nil {
		return nil, err
	}
	var st linkd.CallStats
	err = s.r.QueryRowContext(ctx, `SELECT
			count(*),
			coalesce(sum(id >= ?1), 0),
			coalesce(sum(id >= ?1 AND (error_type <> '' OR status >= 500)), 0)
		FROM api_calls INDEXED BY api_calls_account WHERE org_id = ?2 AND env = ?3 AND account_pk = ?4`,
		linkd.IDBound(now.Add(-24*time.Hour), false), t.OrgID, t.Env, pk).Scan(&st.Total, &st.Calls24h, &st.Errors24h)
	if err != nil {
		return nil, fmt.Errorf("call stats: %w", err)
	}
	return &st, nil
}

// RecentCalls implements linkd.CallLogStore.
func (s *Store) RecentCalls(ctx context.Context, t linkd.Tenant, accountID string, f linkd.CallFilter) ([]linkd.AppCall, error) {
	pk, err := accountPK(ctx, s.r, t, accountID)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)
	q := `SELECT id, slug, at, method, path, status, duration_us, attempts, error_type FROM api_calls
		WHERE org_id = ? AND env = ? AND account_pk = ? ORDER BY id DESC LIMIT ?`
	args := []any{t.OrgID, t.Env, pk, limit}
	if f.Slug != "" {
		q = `SELECT id, slug, at, method, path, status, duration_us, attempts, error_type FROM api_calls
			WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ? ORDER BY id DESC LIMIT ?`
		args = []any{t.OrgID, t.Env, pk, f.Slug, limit}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("recent calls: %w", err)
	}
	defer rows.Close()
	out := []linkd.AppCall{}
	for rows.Next() {
		c := linkd.AppCall{Tenant: t, AccountID: accountID}
		var at, dur int64
		if err := rows.Scan(&c.ID, &c.Slug, &at, &c.Method, &c.Path, &c.Status, &dur, &c.Attempts, &c.ErrorType); err != nil {
			return nil, fmt.Errorf("recent calls: %w", err)
		}
		c.At, c.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent calls: %w", err)
	}
	return out, nil
}

// purgeCallsBatch bounds one purge transaction, so that the single writer
// is never held for long by a large backlog.
const purgeCallsBatch = 5000

// PurgeCalls implements linkd.CallLogStore.
func (s *Store) PurgeCalls(ctx context.Context, before time.Time) (int64, error) {
	bound := linkd.IDBound(before, false)
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM api_calls WHERE id IN (SELECT id FROM api_calls WHERE id < ? ORDER BY id LIMIT ?)`, bound, purgeCallsBatch)
			if err != nil {
				return fmt.Errorf("purge calls: %w", err)
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < purgeCallsBatch {
			if err == nil && total > 0 {
				s.checkpointSoon()
			}
			return total, err
		}
	}
}
