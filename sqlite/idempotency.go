package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// ClaimIdempotencyKey implements linkd.IdempotencyStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, t linkd.Tenant, key, requestHash string, now time.Time) (*linkd.IdempotentResponse, error) {
	var out *linkd.IdempotentResponse
	err := s.tx(ctx, func(tx *wtx) error {
		var hash string
		var status int
		var body []byte
		var lockedUntil, expiresAt int64
		err := tx.QueryRowContext(ctx, `SELECT request_hash, status, body, locked_until, expires_at FROM idempotency_keys WHERE org_id = ? AND env = ? AND key = ?`,
			t.OrgID, t.Env, key).Scan(&hash, &status, &body, &lockedUntil, &expiresAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case expiresAt <= micros(now):
			// An expired record is as good as none.
		case hash != requestHash:
			return &linkd.Error{Code: linkd.EINVALID, Field: "Idempotency-Key", Message: "Idempotency-Key was already used with a different request"}
		case status != 0:
			out = &linkd.IdempotentResponse{RequestHash: hash, Status: status, Body: body}
			return nil
		case lockedUntil > micros(now):
			return &linkd.Error{Code: linkd.ECONFLICT, Field: "Idempotency-Key", Message: "a request with this Idempotency-Key is still in progress; retry later"}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, env, key, request_hash, status, body, locked_until, expires_at)
			VALUES (?, ?, ?, ?, 0, NULL, ?, ?) ON CONFLICT (org_id, env, key) DO UPDATE SET
			request_hash = excluded.request_hash, status = 0, body = NULL, locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			t.OrgID, t.Env, key, requestHash, micros(now.Add(linkd.IdempotencyLease)), micros(now.Add(linkd.IdempotencyTTL)))
		return err
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return out, nil
}

// CompleteIdempotencyKey implements linkd.IdempotencyStore.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, t linkd.Tenant, key string, status int, body []byte) error {
	_, err := s.write.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, body = ? WHERE org_id = ? AND env = ? AND key = ?`, status, body, t.OrgID, t.Env, key)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements linkd.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, t linkd.Tenant, key string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND env = ? AND key = ? AND status = 0`, t.OrgID, t.Env, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
