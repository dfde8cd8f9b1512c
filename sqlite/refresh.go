package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// ClaimRefreshes implements linkd.RefreshStore.
func (s *Store) ClaimRefreshes(ctx context.Context, c linkd.Claim, dueBefore, triedBefore time.Time) ([]linkd.RefreshJob, error) {
	var out []linkd.RefreshJob
	err := s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE connections SET refresh_lease_owner = ?, refresh_lease_until = ?
			WHERE (org_id, env, id) IN (SELECT org_id, env, id FROM connections INDEXED BY connections_expiry
				WHERE status = 'active' AND token_expires_at IS NOT NULL AND token_expires_at < ?
				AND (refresh_lease_until IS NULL OR refresh_lease_until < ?) AND (last_refresh_at IS NULL OR last_refresh_at < ?)
				AND `+skipTenants+` AND slug NOT IN (SELECT value FROM json_each(?)) ORDER BY token_expires_at LIMIT ?)
			RETURNING org_id, env, id, slug, (SELECT account_id FROM linked_accounts a
				WHERE a.org_id = connections.org_id AND a.env = connections.env AND a.id = connections.account_pk)`,
			c.Owner, micros(c.Until()), micros(dueBefore), micros(c.Now), micros(triedBefore), skipJSON(c), skipGroupsJSON(c), c.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j linkd.RefreshJob
			var account sql.NullString
			if err := rows.Scan(&j.Tenant.OrgID, &j.Tenant.Env, &j.ConnectionID, &j.Slug, &account); err != nil {
				return err
			}
			if account.Valid {
				j.AccountID = account.String
				out = append(out, j)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim refreshes: %w", err)
	}
	return out, nil
}

// LeaseRefresh implements linkd.RefreshStore.
func (s *Store) LeaseRefresh(ctx context.Context, t linkd.Tenant, connectionID string, c linkd.Claim, dueBefore, refreshedBefore time.Time) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_lease_owner = ?, refresh_lease_until = ?
			WHERE org_id = ? AND env = ? AND id = ? AND status = 'active'
			AND (refresh_lease_until IS NULL OR refresh_lease_until < ?)
			AND (token_expires_at IS NULL OR token_expires_at < ?) AND (last_refresh_at IS NULL OR last_refresh_at < ?)`,
			c.Owner, micros(c.Until()), t.OrgID, t.Env, connectionID, micros(c.Now), micros(dueBefore), micros(refreshedBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease refresh: %w", err)
	}
	return n == 1, nil
}
