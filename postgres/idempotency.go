package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// ClaimIdempotencyKey implements linkd.IdempotencyStore. A new key is
// inserted with ON CONFLICT DO NOTHING: of two concurrent claims, the second
// waits for the first to commit and then inserts nothing, so it cannot also
// believe it holds the key. An existing key is locked while it is judged.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, t linkd.Tenant, key, requestHash string, now time.Time) (*linkd.IdempotentResponse, error) {
	// Stored times have microseconds; compare with what would be stored.
	now = now.Truncate(time.Microsecond)
	lockedUntil, expiresAt := now.Add(linkd.IdempotencyLease), now.Add(linkd.IdempotencyTTL)
	var out *linkd.IdempotentResponse
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (org_id, env, key, request_hash, status, body, locked_until, expires_at)
			VALUES ($1, $2, $3, $4, 0, NULL, $5, $6) ON CONFLICT (org_id, env, key) DO NOTHING`,
			t.OrgID, t.Env, key, requestHash, lockedUntil, expiresAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var hash string
		var status int
		var body []byte
		var held, expires time.Time
		err = tx.QueryRow(ctx, `SELECT request_hash, status, body, locked_until, expires_at FROM idempotency_keys
			WHERE org_id = $1 AND env = $2 AND key = $3 FOR UPDATE`, t.OrgID, t.Env, key).Scan(&hash, &status, &body, &held, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Released between the two statements: start over.
			return errRetry
		case err != nil:
			return err
		case !expires.After(now):
			// An expired record is as good as none.
		case hash != requestHash:
			return &linkd.Error{Code: linkd.EINVALID, Field: "Idempotency-Key", Message: "Idempotency-Key was already used with a different request"}
		case status != 0:
			out = &linkd.IdempotentResponse{RequestHash: hash, Status: status, Body: body}
			return nil
		case held.After(now):
			return &linkd.Error{Code: linkd.ECONFLICT, Field: "Idempotency-Key", Message: "a request with this Idempotency-Key is still in progress; retry later"}
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET request_hash = $4, status = 0, body = NULL, locked_until = $5, expires_at = $6
			WHERE org_id = $1 AND env = $2 AND key = $3`, t.OrgID, t.Env, key, requestHash, lockedUntil, expiresAt)
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
	if !isID(t.OrgID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $1, body = $2 WHERE org_id = $3 AND env = $4 AND key = $5`, status, body, t.OrgID, t.Env, key)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements linkd.IdempotencyStore. Only a claim in
// flight is released; a stored response stays until it expires.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, t linkd.Tenant, key string) error {
	if !isID(t.OrgID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND env = $2 AND key = $3 AND status = 0`, t.OrgID, t.Env, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
