package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// ClaimRevocations implements linkd.RevocationStore. SKIP LOCKED lets
// several instances claim at once without waiting on each other.
func (s *Store) ClaimRevocations(ctx context.Context, c linkd.Claim) ([]*linkd.Revocation, error) {
	rows, err := s.pool.Query(ctx, `UPDATE revocations SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM revocations WHERE next_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
			AND NOT (org_id || '|' || env = ANY($5)) ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING id, org_id, env, account_id, slug, token, data_key, attempts, next_at, created_at`, c.Owner, c.Until(), c.Now, c.Limit, c.SkipKeys())
	if err != nil {
		return nil, fmt.Errorf("claim revocations: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Revocation
	for rows.Next() {
		var r linkd.Revocation
		if err := rows.Scan(&r.ID, &r.OrgID, &r.Env, &r.AccountID, &r.Slug, &r.Token, &r.DataKey, &r.Attempts, &r.NextAt, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("claim revocations: %w", err)
		}
		r.NextAt, r.CreatedAt = r.NextAt.UTC(), r.CreatedAt.UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

// FinishRevocation implements linkd.RevocationStore.
func (s *Store) FinishRevocation(ctx context.Context, r *linkd.Revocation, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM revocations WHERE id = $1`, r.ID); err != nil {
			return fmt.Errorf("finish revocation: %w", err)
		}
		return insertAudit(ctx, tx, linkd.Tenant{OrgID: r.OrgID, Env: r.Env}, ev)
	})
}

// RetryRevocation implements linkd.RevocationStore.
func (s *Store) RetryRevocation(ctx context.Context, r *linkd.Revocation, next time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE revocations SET attempts = attempts + 1, next_at = $1, lease_owner = NULL, lease_until = NULL WHERE id = $2`, next, r.ID)
	if err != nil {
		return fmt.Errorf("retry revocation: %w", err)
	}
	return nil
}
