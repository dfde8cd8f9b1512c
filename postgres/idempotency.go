package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// idemWhere selects one record: tenant, caller, route and key ($1–$6).
const idemWhere = `org_id = $1 AND env = $2 AND caller = $3 AND method = $4 AND path = $5 AND key = $6`

func idemArgs(t linkd.Tenant, sc linkd.IdempotencyScope, more ...any) []any {
	return append([]any{t.OrgID, t.Env, sc.Caller, sc.Method, sc.Path, sc.Key}, more...)
}

// ClaimIdempotencyKey implements linkd.IdempotencyStore. A new key is
// inserted with ON CONFLICT DO NOTHING: of two concurrent claims, the second
// waits for the first to commit and then inserts nothing, so it cannot also
// believe it holds the key. An existing key is locked while it is judged.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, t linkd.Tenant, sc linkd.IdempotencyScope, requestHash string, now time.Time) (*linkd.IdempotentResponse, error) {
	// Stored times have microseconds; compare with what would be stored.
	now = linkd.StoreTime(now)
	lockedUntil, expiresAt := now.Add(linkd.IdempotencyLease), now.Add(linkd.IdempotencyTTL)
	var out *linkd.IdempotentResponse
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (org_id, env, caller, method, path, key, request_hash, status, locked_until, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) ON CONFLICT (org_id, env, caller, method, path, key) DO NOTHING`,
			idemArgs(t, sc, requestHash, lockedUntil, expiresAt)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var hash string
		var status int
		var account *string
		var dataKey, body []byte
		var held, expires time.Time
		err = tx.QueryRow(ctx, `SELECT request_hash, status, account_id, data_key, body, locked_until, expires_at FROM idempotency_keys
			WHERE `+idemWhere+` FOR UPDATE`, idemArgs(t, sc)...).Scan(&hash, &status, &account, &dataKey, &body, &held, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Released between the two statements: start over.
			return errRetry
		case err != nil:
			return err
		case !expires.After(now):
			// An expired record is as good as none.
		case hash != requestHash:
			return linkd.ErrIdempotencyKeyReused()
		case status != 0:
			out = &linkd.IdempotentResponse{RequestHash: hash, Status: status, DataKey: dataKey, Body: body}
			if account != nil {
				out.AccountID = *account
			}
			return nil
		case held.After(now):
			return &linkd.Error{Code: linkd.ECONFLICT, Field: "Idempotency-Key", Message: "a request with this Idempotency-Key is still in progress; retry later"}
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET request_hash = $7, status = 0, account_id = NULL, data_key = NULL, body = NULL,
			locked_until = $8, expires_at = $9 WHERE `+idemWhere, idemArgs(t, sc, requestHash, lockedUntil, expiresAt)...)
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
func (s *Store) CompleteIdempotencyKey(ctx context.Context, t linkd.Tenant, sc linkd.IdempotencyScope, resp *linkd.IdempotentResponse) error {
	if !isID(t.OrgID) {
		return nil
	}
	var account *string
	if resp.AccountID != "" {
		account = &resp.AccountID
	}
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $7, account_id = $8, data_key = $9, body = $10 WHERE `+idemWhere,
		idemArgs(t, sc, resp.Status, account, resp.DataKey, resp.Body)...)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements linkd.IdempotencyStore. Only a claim in
// flight is released; a stored response stays until it expires.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, t linkd.Tenant, sc linkd.IdempotencyScope) error {
	if !isID(t.OrgID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE `+idemWhere+` AND status = 0`, idemArgs(t, sc)...)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys implements linkd.IdempotencyStore, in batches so no
// one statement holds many row locks.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE ctid IN
			(SELECT ctid FROM idempotency_keys WHERE expires_at < $1 LIMIT 1000)`, before)
		if err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 1000 {
			return total, nil
		}
	}
}
