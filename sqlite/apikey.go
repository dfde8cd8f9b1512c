package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

const apiKeyColumns = `id, org_id, env, name, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*linkd.APIKey, error) {
	var k linkd.APIKey
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Env, &k.Name, &k.Prefix, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	k.LastUsedAt = fromNullMicros(used)
	k.RevokedAt = fromNullMicros(revoked)
	return &k, nil
}

// CreateAPIKey implements linkd.APIKeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *linkd.APIKey, hash []byte, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, org_id, env, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.OrgID, k.Env, k.Name, k.Prefix, hash, micros(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("create api key: %w", err)
		}
		return insertAudit(ctx, tx, k.Tenant(), ev)
	})
}

// APIKeyByHash implements linkd.APIKeyStore.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*linkd.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such API key")
	} else if err != nil {
		return nil, fmt.Errorf("api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements linkd.APIKeyStore.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]*linkd.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE org_id = ? ORDER BY created_at DESC, id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []*linkd.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements linkd.APIKeyStore.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		var env string
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE org_id = ? AND id = ? RETURNING env`,
			micros(at), orgID, id).Scan(&env)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.APIKeyNotFound(id)
		} else if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		// The key's sealed copies go with it: no endpoint signs with a
		// revoked key, and none keeps it (compat signatures, webhook.go).
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET compat_signing_key = NULL, signing_key_revoked = ?
			WHERE org_id = ? AND compat_signing_key_id = ? AND compat_signing_key IS NOT NULL`,
			linkd.CompatKeyRevoked(id, at), orgID, id); err != nil {
			return fmt.Errorf("revoke api key: webhooks: %w", err)
		}
		return insertAudit(ctx, tx, linkd.Tenant{OrgID: orgID, Env: linkd.Environment(env)}, ev)
	})
}

// TouchAPIKey implements linkd.APIKeyStore.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`, micros(at), id)
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
