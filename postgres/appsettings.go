package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// AppSettings implements linkd.AppSettingsStore.
func (s *Store) AppSettings(ctx context.Context, t linkd.Tenant) (map[string]*linkd.AppSettings, error) {
	out := map[string]*linkd.AppSettings{}
	if !isID(t.OrgID) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT slug, enabled, client_id, client_secret, data_key, updated_at FROM app_settings
		WHERE org_id = $1 AND env = $2`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("app settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a linkd.AppSettings
		if err := rows.Scan(&a.Slug, &a.Enabled, &a.ClientID, &a.ClientSecret, &a.DataKey, &a.UpdatedAt); err != nil {
			return nil, fmt.Errorf("app settings: %w", err)
		}
		a.UpdatedAt = a.UpdatedAt.UTC()
		out[a.Slug] = &a
	}
	return out, rows.Err()
}

// PutAppSettings implements linkd.AppSettingsStore.
func (s *Store) PutAppSettings(ctx context.Context, t linkd.Tenant, a *linkd.AppSettings, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO app_settings (org_id, env, slug, enabled, client_id, client_secret, data_key, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, env, slug) DO UPDATE SET enabled = excluded.enabled,
			client_id = excluded.client_id, client_secret = excluded.client_secret, data_key = excluded.data_key, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, a.Slug, a.Enabled, a.ClientID, a.ClientSecret, a.DataKey, a.UpdatedAt)
		if err != nil {
			return fmt.Errorf("put app settings: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
