package sqlite

import (
	"context"
	"fmt"

	"github.com/linkd-dev/linkd"
)

// AppSettings implements linkd.AppSettingsStore.
func (s *Store) AppSettings(ctx context.Context, t linkd.Tenant) (map[string]*linkd.AppSettings, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT slug, enabled, client_id, client_secret, data_key, updated_at FROM app_settings
		WHERE org_id = ? AND env = ?`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("app settings: %w", err)
	}
	defer rows.Close()
	out := map[string]*linkd.AppSettings{}
	for rows.Next() {
		var a linkd.AppSettings
		var updated int64
		if err := rows.Scan(&a.Slug, &a.Enabled, &a.ClientID, &a.ClientSecret, &a.DataKey, &updated); err != nil {
			return nil, err
		}
		a.UpdatedAt = fromMicros(updated)
		out[a.Slug] = &a
	}
	return out, rows.Err()
}

// PutAppSettings implements linkd.AppSettingsStore.
func (s *Store) PutAppSettings(ctx context.Context, t linkd.Tenant, a *linkd.AppSettings, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO app_settings (org_id, env, slug, enabled, client_id, client_secret, data_key, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, env, slug) DO UPDATE SET enabled = excluded.enabled,
			client_id = excluded.client_id, client_secret = excluded.client_secret, data_key = excluded.data_key, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, a.Slug, a.Enabled, a.ClientID, a.ClientSecret, a.DataKey, micros(a.UpdatedAt))
		if err != nil {
			return fmt.Errorf("put app settings: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
