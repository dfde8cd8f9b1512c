package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// ClaimRefreshes implements linkd.RefreshStore.
func (s *Store) ClaimRefreshes(ctx context.Context, c linkd.Claim, dueBefore, triedBefore time.Time) ([]linkd.RefreshJob, error) {
	rows, err := s.pool.Query(ctx, `UPDATE connections c SET refresh_lease_owner = $1, refresh_lease_until = $2
		FROM linked_accounts a
		WHERE a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk
		AND (c.org_id, c.env, c.id) IN (SELECT org_id, env, id FROM connections
			WHERE status = 'active' AND token_expires_at IS NOT NULL AND token_expires_at < $3
			AND (refresh_lease_until IS NULL OR refresh_lease_until < $4) AND (last_refresh_at IS NULL OR last_refresh_at < $7)
			AND NOT (org_id || '|' || env = ANY($6)) AND NOT (slug = ANY($8))
			ORDER BY token_expires_at LIMIT $5 FOR UPDATE SKIP LOCKED)
		RETURNING c.org_id, c.env, c.id, c.slug, a.account_id`, c.Owner, c.Until(), dueBefore, c.Now, c.Limit, c.SkipKeys(), triedBefore, c.SkipGroupList())
	if err != nil {
		return nil, fmt.Errorf("claim refreshes: %w", err)
	}
	defer rows.Close()
	var out []linkd.RefreshJob
	for rows.Next() {
		var j linkd.RefreshJob
		var env string
		if err := rows.Scan(&j.Tenant.OrgID, &env, &j.ConnectionID, &j.Slug, &j.AccountID); err != nil {
			return nil, fmt.Errorf("claim refreshes: %w", err)
		}
		j.Tenant.Env = linkd.Environment(env)
		out = append(out, j)
	}
	return out, rows.Err()
}

// LeaseRefresh implements linkd.RefreshStore.
func (s *Store) LeaseRefresh(ctx context.Context, t linkd.Tenant, connectionID string, c linkd.Claim, dueBefore, refreshedBefore time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE connections SET refresh_lease_owner = $1, refresh_lease_until = $2
		WHERE org_id = $3 AND env = $4 AND id = $5 AND status = 'active'
		AND (refresh_lease_until IS NULL OR refresh_lease_until < $6)
		AND (token_expires_at IS NULL OR token_expires_at < $7) AND (last_refresh_at IS NULL OR last_refresh_at < $8)`,
		c.Owner, c.Until(), t.OrgID, t.Env, connectionID, c.Now, dueBefore, refreshedBefore)
	if err != nil {
		return false, fmt.Errorf("lease refresh: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
