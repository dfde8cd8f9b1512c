package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// ClaimRefreshes implements linkd.RefreshStore. With a group cap, it
// counts the live leases that claims took (not a request's refresh on
// demand, see LeaseRefresh) of each token endpoint host (c.GroupOf
// maps slugs to hosts) through the partial index of leases, leaves out the
// hosts at the cap, and takes of each other host only the room its leases
// leave, among the first c.Candidates() due connections. Such claims take
// turns on the refresh row of work_locks, so that two instances' claims
// cannot both see room for the same last slot.
func (s *Store) ClaimRefreshes(ctx context.Context, c linkd.Claim, dueBefore, triedBefore time.Time) ([]linkd.RefreshJob, error) {
	groups, _ := json.Marshal(c.GroupMap())
	capped := c.GroupCap > 0 && len(c.GroupOf) > 0
	var out []linkd.RefreshJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if capped {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM work_locks WHERE name = 'refresh' FOR UPDATE`); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `WITH grp AS (SELECT key AS slug, value AS host FROM jsonb_each_text($9::jsonb)),
			live AS (SELECT g.host, count(*) AS n FROM connections l JOIN grp g ON g.slug = l.slug
				WHERE l.refresh_lease_until >= $4 AND l.refresh_lease_claimed GROUP BY g.host),
			at_cap AS (SELECT g.slug FROM grp g JOIN live ON live.host = g.host WHERE live.n >= $11),
			cand AS (SELECT c.org_id, c.env, c.id, c.token_expires_at, $9::jsonb ->> c.slug AS host FROM connections c
				WHERE c.status = 'active' AND c.token_expires_at IS NOT NULL AND c.token_expires_at < $3
				AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < $4) AND (c.last_refresh_at IS NULL OR c.last_refresh_at < $7)
				AND NOT (c.org_id || '|' || c.env = ANY($6)) AND NOT (c.slug = ANY($8))
				AND (cardinality($10::text[]) = 0 OR c.slug = ANY($10))
				AND c.slug NOT IN (SELECT slug FROM at_cap)
				ORDER BY c.token_expires_at LIMIT $12 FOR UPDATE OF c SKIP LOCKED),
			pick AS (SELECT x.org_id, x.env, x.id FROM (SELECT cand.*, row_number() OVER (PARTITION BY cand.host ORDER BY cand.token_expires_at) AS rn FROM cand) x
				LEFT JOIN live ON live.host = x.host
				WHERE x.host IS NULL OR x.rn + coalesce(live.n, 0) <= $11
				ORDER BY x.token_expires_at LIMIT $5)
			UPDATE connections c SET refresh_lease_owner = $1, refresh_lease_until = $2, refresh_lease_claimed = true
			FROM linked_accounts a
			WHERE a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk
			AND (c.org_id, c.env, c.id) IN (SELECT org_id, env, id FROM pick)
			RETURNING c.org_id, c.env, c.id, c.slug, a.account_id`,
			c.Owner, c.Until(), dueBefore, c.Now, c.Limit, c.SkipKeys(), triedBefore, c.SkipGroupList(),
			string(groups), c.OnlyGroupList(), c.GroupCap, c.Candidates())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j linkd.RefreshJob
			var env string
			if err := rows.Scan(&j.Tenant.OrgID, &env, &j.ConnectionID, &j.Slug, &j.AccountID); err != nil {
				return err
			}
			j.Tenant.Env = linkd.Environment(env)
			out = append(out, j)
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
	tag, err := s.pool.Exec(ctx, `UPDATE connections SET refresh_lease_owner = $1, refresh_lease_until = $2, refresh_lease_claimed = false
		WHERE org_id = $3 AND env = $4 AND id = $5 AND status = 'active'
		AND (refresh_lease_until IS NULL OR refresh_lease_until < $6)
		AND (token_expires_at IS NULL OR token_expires_at < $7) AND (last_refresh_at IS NULL OR last_refresh_at < $8)`,
		c.Owner, c.Until(), t.OrgID, t.Env, connectionID, c.Now, dueBefore, refreshedBefore)
	if err != nil {
		return false, fmt.Errorf("lease refresh: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
