package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// ClaimRevocations implements linkd.RevocationStore.
func (s *Store) ClaimRevocations(ctx context.Context, c linkd.Claim) ([]*linkd.Revocation, error) {
	var out []*linkd.Revocation
	err := s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE revocations SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM revocations WHERE next_at <= ? AND (lease_until IS NULL OR lease_until < ?)
				AND `+skipTenants+` ORDER BY next_at LIMIT ?)
			RETURNING id, org_id, env, account_id, slug, token, data_key, attempts, next_at, created_at`,
			c.Owner, micros(c.Until()), micros(c.Now), micros(c.Now), skipJSON(c), c.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r linkd.Revocation
			var next, created int64
			if err := rows.Scan(&r.ID, &r.OrgID, &r.Env, &r.AccountID, &r.Slug, &r.Token, &r.DataKey, &r.Attempts, &next, &created); err != nil {
				return err
			}
			r.NextAt, r.CreatedAt = fromMicros(next), fromMicros(created)
			out = append(out, &r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim revocations: %w", err)
	}
	return out, nil
}

// FinishRevocation implements linkd.RevocationStore.
func (s *Store) FinishRevocation(ctx context.Context, r *linkd.Revocation, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE id = ?`, r.ID); err != nil {
			return fmt.Errorf("finish revocation: %w", err)
		}
		return insertAudit(ctx, tx, linkd.Tenant{OrgID: r.OrgID, Env: r.Env}, ev)
	})
}

// RetryRevocation implements linkd.RevocationStore.
func (s *Store) RetryRevocation(ctx context.Context, r *linkd.Revocation, next time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE revocations SET attempts = attempts + 1, next_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?`,
		micros(next), r.ID)
	if err != nil {
		return fmt.Errorf("retry revocation: %w", err)
	}
	return nil
}
