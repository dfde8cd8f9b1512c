package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// TenantSettings implements linkd.TenantSettingsStore.
func (s *Store) TenantSettings(ctx context.Context, t linkd.Tenant) (*linkd.TenantSettings, error) {
	var out linkd.TenantSettings
	if !isID(t.OrgID) {
		return &out, nil
	}
	var updated time.Time
	err := s.pool.QueryRow(ctx, `SELECT session_token_may_rename, updated_at FROM tenant_settings WHERE org_id = $1 AND env = $2`,
		t.OrgID, t.Env).Scan(&out.SessionTokenMayRename, &updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &out, nil
	case err != nil:
		return nil, fmt.Errorf("tenant settings: %w", err)
	}
	out.UpdatedAt = updated.UTC()
	return &out, nil
}

// PutTenantSettings implements linkd.TenantSettingsStore.
func (s *Store) PutTenantSettings(ctx context.Context, t linkd.Tenant, ts *linkd.TenantSettings, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) {
		return linkd.OrgNotFound(t.OrgID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenant_settings (org_id, env, session_token_may_rename, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, env) DO UPDATE SET session_token_may_rename = excluded.session_token_may_rename, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, ts.SessionTokenMayRename, ts.UpdatedAt)
		if err != nil {
			return fmt.Errorf("put tenant settings: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
