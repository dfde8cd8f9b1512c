package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

const apiKeyColumns = `id, org_id, env, name, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (*linkd.APIKey, error) {
	var k linkd.APIKey
	if err := row.Scan(&k.ID, &k.OrgID, &k.Env, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateAPIKey implements linkd.APIKeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *linkd.APIKey, hash []byte, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, org_id, env, name, prefix, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.OrgID, k.Env, k.Name, k.Prefix, hash, k.CreatedAt)
		if err != nil {
			return fmt.Errorf("create api key: %w", err)
		}
		return insertAudit(ctx, tx, k.Tenant(), ev)
	})
}

// APIKeyByHash implements linkd.APIKeyStore.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*linkd.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such API key")
	} else if err != nil {
		return nil, fmt.Errorf("api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements linkd.APIKeyStore.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]*linkd.APIKey, error) {
	if !isID(orgID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = $1 ORDER BY created_at DESC, id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey implements linkd.APIKeyStore. The first revocation time is
// kept, so revoking again changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time, ev *linkd.AuditEntry) error {
	if !isID(orgID) || !isID(id) {
		return linkd.APIKeyNotFound(id)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// Lock the endpoints the key signs before the key: a webhook save
		// locks its endpoint and then reads the key FOR SHARE
		// (checkCompatKey), so taking them in the same order cannot
		// deadlock.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM webhooks WHERE org_id = $1 AND compat_signing_key_id = $2 FOR UPDATE`, orgID, id); err != nil {
			return fmt.Errorf("revoke api key: webhooks: %w", err)
		}
		var env string
		err := tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE org_id = $2 AND id = $3 RETURNING env`,
			at, orgID, id).Scan(&env)
		if errors.Is(err, pgx.ErrNoRows) {
			return linkd.APIKeyNotFound(id)
		} else if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		// The key's sealed copies go with it: no endpoint signs with a
		// revoked key, and none keeps it (compat signatures, webhook.go).
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET compat_signing_key = NULL, signing_key_revoked = $1
			WHERE org_id = $2 AND compat_signing_key_id = $3 AND compat_signing_key IS NOT NULL`,
			linkd.CompatKeyRevoked(id, at), orgID, id); err != nil {
			return fmt.Errorf("revoke api key: webhooks: %w", err)
		}
		return insertAudit(ctx, tx, linkd.Tenant{OrgID: orgID, Env: linkd.Environment(env)}, ev)
	})
}

// TouchAPIKey implements linkd.APIKeyStore. Touches may arrive out of order,
// so last_used_at only moves forward (greatest ignores the NULL of a key
// never used).
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if !isID(id) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`, at, id)
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
