package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.CallLogStore = (*Store)(nil)

// AppendCalls implements linkd.CallLogStore in one statement: the calls
// join their accounts, so a call of an account that is gone inserts
// nothing. The join locks the accounts it finds (FOR KEY SHARE, in key
// order) until the batch commits: DeleteAccount locks its row FOR UPDATE
// first, so it either waits for the batch and then deletes its rows, or
// commits first and the batch no longer finds the account. Without the
// lock a batch could slip its rows in after the deletion swept the log.
func (s *Store) AppendCalls(ctx context.Context, calls []linkd.AppCall) error {
	n := len(calls)
	orgs, envs, accts, ids, slugs := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	ats, methods, paths := make([]time.Time, 0, n), make([]string, 0, n), make([]string, 0, n)
	statuses, durs, attempts, errs := make([]int32, 0, n), make([]int64, 0, n), make([]int32, 0, n), make([]string, 0, n)
	for i := range calls {
		c := calls[i]
		if !isID(c.Tenant.OrgID) {
			continue // no such org, so no such account
		}
		c.Normalize()
		orgs, envs, accts, ids, slugs = append(orgs, c.Tenant.OrgID), append(envs, string(c.Tenant.Env)), append(accts, c.AccountID), append(ids, c.ID), append(slugs, c.Slug)
		ats, methods, paths = append(ats, c.At), append(methods, c.Method), append(paths, c.Path)
		statuses, durs, attempts, errs = append(statuses, int32(c.Status)), append(durs, c.Duration.Microseconds()), append(attempts, int32(c.Attempts)), append(errs, c.ErrorType)
	}
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_calls (org_id, env, id, account_pk, slug, at, method, path, status, duration_us, attempts, error_type)
			SELECT a.org_id, a.env, c.id, a.id, c.slug, c.at, c.method, c.path, c.status, c.duration_us, c.attempts, c.error_type
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::integer[], $10::bigint[], $11::integer[], $12::text[])
				AS c (org_id, env, account_id, id, slug, at, method, path, status, duration_us, attempts, error_type)
			JOIN linked_accounts a ON a.org_id = c.org_id AND a.env = c.env AND a.account_id = c.account_id
			ORDER BY a.id
			FOR KEY SHARE OF a
			ON CONFLICT (id) DO NOTHING`,
			orgs, envs, accts, ids, slugs, ats, methods, paths, statuses, durs, attempts, errs)
		if err != nil {
			return fmt.Errorf("append calls: %w", err)
		}
		return nil
	})
}

// accountPK is the primary key of the account accountID; ENOTFOUND when
// there is none.
func accountPK(ctx context.Context, q querier, t linkd.Tenant, accountID string) (string, error) {
	if !isID(t.OrgID) {
		return "", accountNotFound(t, accountID)
	}
	var pk string
	err := q.QueryRow(ctx, `SELECT id::text FROM linked_accounts WHERE org_id = $1 AND env = $2 AND account_id = $3`, t.OrgID, t.Env, accountID).Scan(&pk)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", accountNotFound(t, accountID)
	} else if err != nil {
		return "", fmt.Errorf("find account %q: %w", accountID, err)
	}
	return pk, nil
}

// CallStats implements linkd.CallLogStore.
func (s *Store) CallStats(ctx context.Context, t linkd.Tenant, accountID string, now time.Time) (*linkd.CallStats, error) {
	pk, err := accountPK(ctx, s.pool, t, accountID)
	if err != nil {
		return nil, err
	}
	var st linkd.CallStats
	err = s.pool.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE id >= $4::uuid),
			count(*) FILTER (WHERE id >= $4::uuid AND (error_type <> '' OR status >= 500))
		FROM api_calls WHERE org_id = $1 AND env = $2 AND account_pk = $3`,
		t.OrgID, t.Env, pk, linkd.IDBound(now.Add(-24*time.Hour), false)).Scan(&st.Total, &st.Calls24h, &st.Errors24h)
	if err != nil {
		return nil, fmt.Errorf("call stats: %w", err)
	}
	return &st, nil
}

// RecentCalls implements linkd.CallLogStore.
func (s *Store) RecentCalls(ctx context.Context, t linkd.Tenant, accountID string, f linkd.CallFilter) ([]linkd.AppCall, error) {
	pk, err := accountPK(ctx, s.pool, t, accountID)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)
	q := `SELECT id::text, slug, at, method, path, status, duration_us, attempts, error_type FROM api_calls
		WHERE org_id = $1 AND env = $2 AND account_pk = $3 ORDER BY id DESC LIMIT $4`
	args := []any{t.OrgID, t.Env, pk, limit}
	if f.Slug != "" {
		q = `SELECT id::text, slug, at, method, path, status, duration_us, attempts, error_type FROM api_calls
			WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $5 ORDER BY id DESC LIMIT $4`
		args = append(args, f.Slug)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("recent calls: %w", err)
	}
	defer rows.Close()
	out := []linkd.AppCall{}
	for rows.Next() {
		c := linkd.AppCall{Tenant: t, AccountID: accountID}
		var dur int64
		if err := rows.Scan(&c.ID, &c.Slug, &c.At, &c.Method, &c.Path, &c.Status, &dur, &c.Attempts, &c.ErrorType); err != nil {
			return nil, fmt.Errorf("recent calls: %w", err)
		}
		c.At, c.Duration = c.At.UTC(), time.Duration(dur)*time.Microsecond
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent calls: %w", err)
	}
	return out, nil
}

// purgeCallsBatch bounds one purge statement, so that a large backlog is
// deleted in short transactions rather than one long one.
const purgeCallsBatch = 10000

// PurgeCalls implements linkd.CallLogStore.
func (s *Store) PurgeCalls(ctx context.Context, before time.Time) (int64, error) {
	bound := linkd.IDBound(before, false)
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM api_calls WHERE id IN (SELECT id FROM api_calls WHERE id < $1::uuid ORDER BY id LIMIT $2)`, bound, purgeCallsBatch)
		if err != nil {
			return total, fmt.Errorf("purge calls: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeCallsBatch {
			return total, nil
		}
	}
}
