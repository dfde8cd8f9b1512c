package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// idemWhere selects one record: tenant, caller, route and key.
const idemWhere = `org_id = ? AND env = ? AND caller = ? AND method = ? AND path = ? AND key = ?`

func idemArgs(t linkd.Tenant, sc linkd.IdempotencyScope, more ...any) []any {
	return append([]any{t.OrgID, t.Env, sc.Caller, sc.Method, sc.Path, sc.Key}, more...)
}

// ClaimIdempotencyKey implements linkd.IdempotencyStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, t linkd.Tenant, sc linkd.IdempotencyScope, requestHash string, now time.Time) (*linkd.IdempotentResponse, error) {
	var out *linkd.IdempotentResponse
	err := s.tx(ctx, func(tx *wtx) error {
		out = nil
		var hash string
		var status int
		var account sql.NullString
		var dataKey, body []byte
		var lockedUntil, expiresAt int64
		err := tx.QueryRowContext(ctx, `SELECT request_hash, status, account_id, data_key, body, locked_until, expires_at FROM idempotency_keys WHERE `+idemWhere,
			idemArgs(t, sc)...).Scan(&hash, &status, &account, &dataKey, &body, &lockedUntil, &expiresAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case expiresAt <= micros(now):
			// An expired record is as good as none.
		case hash != requestHash:
			return linkd.ErrIdempotencyKeyReused()
		case status != 0:
			out = &linkd.IdempotentResponse{RequestHash: hash, Status: status, AccountID: account.String, DataKey: dataKey, Body: body}
			return nil
		case lockedUntil > micros(now):
			return &linkd.Error{Code: linkd.ECONFLICT, Field: "Idempotency-Key", Message: "a request with this Idempotency-Key is still in progress; retry later"}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, env, caller, method, path, key, request_hash, status, account_id, data_key, body, locked_until, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, NULL, ?, ?) ON CONFLICT (org_id, env, caller, method, path, key) DO UPDATE SET
			request_hash = excluded.request_hash, status = 0, account_id = NULL, data_key = NULL, body = NULL,
			locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			idemArgs(t, sc, requestHash, micros(now.Add(linkd.IdempotencyLease)), micros(now.Add(linkd.IdempotencyTTL)))...)
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
	var account any
	if resp.AccountID != "" {
		account = resp.AccountID
	}
	_, err := s.write.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, account_id = ?, data_key = ?, body = ? WHERE `+idemWhere,
		append([]any{resp.Status, account, resp.DataKey, resp.Body}, idemArgs(t, sc)...)...)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements linkd.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, t linkd.Tenant, sc linkd.IdempotencyScope) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE `+idemWhere+` AND status = 0`, idemArgs(t, sc)...)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys implements linkd.IdempotencyStore. The table holds
// a day of keys, so the hourly scan is short; deleting in batches keeps
// the single writer free for requests in between.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (org_id, env, caller, method, path, key) IN
				(SELECT org_id, env, caller, method, path, key FROM idempotency_keys WHERE expires_at < ? LIMIT 1000)`, micros(before))
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
