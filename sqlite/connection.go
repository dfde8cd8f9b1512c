package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/linkd-dev/linkd"
)

const connectionColumns = `id, account_pk, slug, auth_type, identifier, status, credentials, token_expires_at, refresh_failures,
	last_refresh_at, last_refresh_error, created_at, updated_at`

func scanConnection(row interface{ Scan(...any) error }) (*linkd.Connection, error) {
	var c linkd.Connection
	var expires, refreshed sql.NullInt64
	var created, updated int64
	if err := row.Scan(&c.ID, &c.AccountPK, &c.Slug, &c.AuthType, &c.Identifier, &c.Status, &c.Credentials, &expires, &c.RefreshFailures,
		&refreshed, &c.LastRefreshError, &created, &updated); err != nil {
		return nil, err
	}
	c.TokenExpiresAt, c.LastRefreshAt = fromNullMicros(expires), fromNullMicros(refreshed)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

func accountConnections(ctx context.Context, q querier, t linkd.Tenant, accountPK string) ([]*linkd.Connection, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections INDEXED BY connections_account
		WHERE org_id = ? AND env = ? AND account_pk = ? ORDER BY slug, auth_type`, t.OrgID, t.Env, accountPK)
	if err != nil {
		return nil, fmt.Errorf("connections: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Connections implements linkd.ConnectionStore.
func (s *Store) Connections(ctx context.Context, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, []*linkd.Connection, error) {
	acct, err := findAccount(ctx, s.r, t, accountID)
	if err != nil {
		return nil, nil, err
	}
	conns, err := accountConnections(ctx, s.r, t, acct.ID)
	return acct, conns, err
}

// PutConnection implements linkd.ConnectionStore.
func (s *Store) PutConnection(ctx context.Context, t linkd.Tenant, accountID, slug, authType string,
	fn func(acct *linkd.LinkedAccount, cur *linkd.Connection, configs linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error)) (*linkd.Connection, error) {
	var out *linkd.Connection
	err := s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		cur, err := scanConnection(tx.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections
			WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ? AND auth_type = ?`, t.OrgID, t.Env, acct.ID, slug, authType))
		if errors.Is(err, sql.ErrNoRows) {
			cur = nil
		} else if err != nil {
			return fmt.Errorf("put connection: %w", err)
		}
		next, dataKey, ev, err := fn(acct, cur, func() ([]*linkd.AppConfig, error) { return slugConfigs(ctx, tx, t, acct.ID, slug) })
		if err != nil {
			return err
		}
		// Whether the account was connected to the app before this write:
		// surely when it replaces a connection, else another auth type's.
		had := cur != nil
		if !had {
			if had, err = hasApp(ctx, tx, t, acct.ID, slug); err != nil {
				return err
			}
		}
		if dataKey != nil && acct.DataKey == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET data_key = ? WHERE org_id = ? AND env = ? AND id = ?`, dataKey, t.OrgID, t.Env, acct.ID); err != nil {
				return fmt.Errorf("put connection: %w", err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO connections (org_id, env, id, account_pk, slug, auth_type, identifier, status, credentials,
				token_expires_at, refresh_failures, last_refresh_at, last_refresh_error, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, env, id) DO UPDATE SET identifier = excluded.identifier, status = excluded.status,
				credentials = excluded.credentials, token_expires_at = excluded.token_expires_at, refresh_failures = excluded.refresh_failures,
				last_refresh_at = excluded.last_refresh_at, last_refresh_error = excluded.last_refresh_error, updated_at = excluded.updated_at,
				refresh_lease_owner = NULL, refresh_lease_until = NULL`,
			t.OrgID, t.Env, next.ID, acct.ID, slug, authType, next.Identifier, next.Status, next.Credentials, nullMicros(next.TokenExpiresAt),
			next.RefreshFailures, nullMicros(next.LastRefreshAt), next.LastRefreshError, micros(next.CreatedAt), micros(next.UpdatedAt))
		if err != nil {
			return fmt.Errorf("put connection: %w", err)
		}
		if err := countConnectedApps(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		if !had {
			if err := addAppCount(ctx, tx, t, slug, 1); err != nil {
				return err
			}
		}
		out = next
		return insertAudit(ctx, tx, t, ev)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// countConnectedApps refreshes the account's count of connected apps.
func countConnectedApps(ctx context.Context, tx *wtx, t linkd.Tenant, accountPK string) error {
	_, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET connected_apps =
		(SELECT count(DISTINCT slug) FROM connections WHERE org_id = ? AND env = ? AND account_pk = ?)
		WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, accountPK, t.OrgID, t.Env, accountPK)
	if err != nil {
		return fmt.Errorf("count connected apps: %w", err)
	}
	return nil
}

// RemoveConnections implements linkd.ConnectionStore.
func (s *Store) RemoveConnections(ctx context.Context, t linkd.Tenant, accountID, slug, authType string, fn linkd.RemoveFunc) ([]*linkd.Connection, error) {
	var removed []*linkd.Connection
	err := s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		all, err := accountConnections(ctx, tx, t, acct.ID)
		if err != nil {
			return err
		}
		removed = removed[:0]
		for _, c := range all {
			if c.Slug == slug && (authType == "" || c.AuthType == authType) {
				removed = append(removed, c)
			}
		}
		if len(removed) == 0 {
			return nil
		}
		revs, ev, err := fn(acct, removed)
		if err != nil {
			return err
		}
		for _, c := range removed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, c.ID); err != nil {
				return fmt.Errorf("remove connection: %w", err)
			}
		}
		if err := insertRevocations(ctx, tx, revs); err != nil {
			return err
		}
		if err := countConnectedApps(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		// The app's last connection gone, its configs go and the app
		// no longer counts the account.
		if !slices.ContainsFunc(all, func(c *linkd.Connection) bool { return c.Slug == slug && !slices.Contains(removed, c) }) {
			if err := removeAppConfigs(ctx, tx, t, acct.ID, slug); err != nil {
				return err
			}
			if err := addAppCount(ctx, tx, t, slug, -1); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// hasApp reports whether the account has a connection to the app.
func hasApp(ctx context.Context, q querier, t linkd.Tenant, accountPK, slug string) (bool, error) {
	var has bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM connections INDEXED BY connections_account
		WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ?)`, t.OrgID, t.Env, accountPK, slug).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("connections of %s: %w", slug, err)
	}
	return has, nil
}

func addAppCount(ctx context.Context, tx *wtx, t linkd.Tenant, slug string, delta int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO app_counts (org_id, env, slug, n) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, env, slug) DO UPDATE SET n = n + excluded.n`, t.OrgID, t.Env, slug, delta)
	if err != nil {
		return fmt.Errorf("count accounts of %s: %w", slug, err)
	}
	return nil
}

func insertRevocations(ctx context.Context, tx *wtx, revs []*linkd.Revocation) error {
	for _, r := range revs {
		_, err := tx.ExecContext(ctx, `INSERT INTO revocations (id, org_id, env, account_id, slug, token, data_key, attempts, next_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.OrgID, r.Env, r.AccountID, r.Slug, r.Token, r.DataKey, r.Attempts, micros(r.NextAt), micros(r.CreatedAt))
		if err != nil {
			return fmt.Errorf("queue revocation: %w", err)
		}
	}
	return nil
}

// AppConnection implements linkd.ConnectionStore. SQLite runs in the
// process: three indexed reads cost less than a join's planning.
func (s *Store) AppConnection(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.LinkedAccount, []*linkd.Connection, *linkd.AppSettings, error) {
	acct, err := findAccount(ctx, s.r, t, accountID)
	if err != nil {
		return nil, nil, nil, err
	}
	all, err := accountConnections(ctx, s.r, t, acct.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	var conns []*linkd.Connection
	for _, c := range all {
		if c.Slug == slug {
			conns = append(conns, c)
		}
	}
	var set linkd.AppSettings
	var updated int64
	err = s.r.QueryRowContext(ctx, `SELECT slug, enabled, client_id, client_secret, data_key, updated_at FROM app_settings
		WHERE org_id = ? AND env = ? AND slug = ?`, t.OrgID, t.Env, slug).Scan(&set.Slug, &set.Enabled, &set.ClientID, &set.ClientSecret, &set.DataKey, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return acct, conns, nil, nil
	case err != nil:
		return nil, nil, nil, fmt.Errorf("app settings: %w", err)
	}
	set.UpdatedAt = fromMicros(updated)
	return acct, conns, &set, nil
}
