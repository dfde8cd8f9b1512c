package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// ClaimRefreshes implements linkd.RefreshStore. With a group cap, it
// counts the live leases that claims took (not a request's refresh on
// demand, see LeaseRefresh) of each token endpoint host (c.GroupOf
// maps slugs to hosts) through the partial index of leases, leaves out the
// hosts at the cap, and takes of each other host only the room its leases
// leave, among the first c.Candidates() due connections. Claims are write
// transactions, which SQLite runs one at a time, so the count cannot go
// stale before the claim's leases are written.
func (s *Store) ClaimRefreshes(ctx context.Context, c linkd.Claim, dueBefore, triedBefore time.Time) ([]linkd.RefreshJob, error) {
	groups, _ := json.Marshal(c.GroupMap())
	only, _ := json.Marshal(c.OnlyGroupList())
	var out []linkd.RefreshJob
	err := s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `WITH grp AS (SELECT key AS slug, value AS host FROM json_each(?9)),
			live AS (SELECT g.host, count(*) AS n FROM connections l JOIN grp g ON g.slug = l.slug
				WHERE l.refresh_lease_until IS NOT NULL AND l.refresh_lease_until >= ?4 AND l.refresh_lease_claimed GROUP BY g.host),
			at_cap AS (SELECT g.slug FROM grp g JOIN live ON live.host = g.host WHERE live.n >= ?11),
			cand AS (SELECT c.org_id, c.env, c.id, c.token_expires_at, json_extract(?9, '$."' || c.slug || '"') AS host FROM connections c INDEXED BY connections_expiry
				WHERE c.status = 'active' AND c.token_expires_at IS NOT NULL AND c.token_expires_at < ?3
				AND (c.refresh_lease_until IS NULL OR c.refresh_lease_until < ?4) AND (c.last_refresh_at IS NULL OR c.last_refresh_at < ?5)
				AND (c.org_id || '|' || c.env) NOT IN (SELECT value FROM json_each(?6))
				AND c.slug NOT IN (SELECT value FROM json_each(?7))
				AND (?10 = '[]' OR c.slug IN (SELECT value FROM json_each(?10)))
				AND c.slug NOT IN (SELECT slug FROM at_cap)
				ORDER BY c.token_expires_at LIMIT ?12),
			pick AS (SELECT x.org_id, x.env, x.id FROM (SELECT cand.*, row_number() OVER (PARTITION BY cand.host ORDER BY cand.token_expires_at) AS rn FROM cand) x
				LEFT JOIN live ON live.host = x.host
				WHERE x.host IS NULL OR x.rn + coalesce(live.n, 0) <= ?11
				ORDER BY x.token_expires_at LIMIT ?8)
			UPDATE connections SET refresh_lease_owner = ?1, refresh_lease_until = ?2, refresh_lease_claimed = 1
			WHERE (org_id, env, id) IN (SELECT org_id, env, id FROM pick)
			RETURNING org_id, env, id, slug, (SELECT account_id FROM linked_accounts a
				WHERE a.org_id = connections.org_id AND a.env = connections.env AND a.id = connections.account_pk)`,
			c.Owner, micros(c.Until()), micros(dueBefore), micros(c.Now), micros(triedBefore), skipJSON(c), skipGroupsJSON(c), c.Limit,
			string(groups), string(only), c.GroupCap, c.Candidates())
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
		res, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_lease_owner = ?, refresh_lease_until = ?, refresh_lease_claimed = 0
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
