package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/linkd-dev/linkd"
)

// TenantSettings implements linkd.TenantSettingsStore.
func (s *Store) TenantSettings(ctx context.Context, t linkd.Tenant) (*linkd.TenantSettings, error) {
	var out linkd.TenantSettings
	var updated int64
	err := s.r.QueryRowContext(ctx, `SELECT session_token_may_rename, updated_at FROM tenant_settings WHERE org_id = ? AND env = ?`,
		t.OrgID, t.Env).Scan(&out.SessionTokenMayRename, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &out, nil
	case err != nil:
		return nil, fmt.Errorf("tenant settings: %w", err)
	}
	out.UpdatedAt = fromMicros(updated)
	return &out, nil
}

// PutTenantSettings implements linkd.TenantSettingsStore.
func (s *Store) PutTenantSettings(ctx context.Context, t linkd.Tenant, ts *linkd.TenantSettings, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenant_settings (org_id, env, session_token_may_rename, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, env) DO UPDATE SET session_token_may_rename = excluded.session_token_may_rename, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, ts.SessionTokenMayRename, micros(ts.UpdatedAt))
		if err != nil {
			return fmt.Errorf("put tenant settings: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
