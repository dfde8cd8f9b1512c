package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

var _ linkd.ConnectionStore = (*Store)(nil)

const connectionColumns = `id, account_pk, slug, auth_type, identifier, status, credentials, token_expires_at, refresh_failures,
	last_refresh_at, last_refresh_error, created_at, updated_at`

func scanConnection(row pgx.Row) (*linkd.Connection, error) {
	var c linkd.Connection
	if err := row.Scan(&c.ID, &c.AccountPK, &c.Slug, &c.AuthType, &c.Identifier, &c.Status, &c.Credentials, &c.TokenExpiresAt, &c.RefreshFailures,
		&c.LastRefreshAt, &c.LastRefreshError, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.TokenExpiresAt, c.LastRefreshAt = nullUTC(c.TokenExpiresAt), nullUTC(c.LastRefreshAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// microUTC is t as the database keeps it: UTC, cut (not rounded, as
// PostgreSQL would) to microseconds, which is what SQLite stores.
func microUTC(t time.Time) time.Time { return linkd.StoreTime(t) }

// nullMicroUTC is microUTC of an optional time.
func nullMicroUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := microUTC(*t)
	return &v
}

func nullUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// accountConnections reads the connections of the account with internal id
// accountPK, sorted by app and auth type (bytewise: the columns are
// COLLATE "C", as SQLite compares).
func accountConnections(ctx context.Context, q querier, t linkd.Tenant, accountPK string) ([]*linkd.Connection, error) {
	rows, err := q.Query(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE org_id = $1 AND env = $2 AND account_pk = $3 ORDER BY slug, auth_type`, t.OrgID, t.Env, accountPK)
	if err != nil {
		return nil, fmt.Errorf("connections: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Connection, error) { return scanConnection(r) })
	if err != nil {
		return nil, fmt.Errorf("connections: %w", err)
	}
	return out, nil
}

// Connections implements linkd.ConnectionStore.
func (s *Store) Connections(ctx context.Context, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, []*linkd.Connection, error) {
	acct, err := findAccount(ctx, s.pool, t, accountID, false)
	if err != nil {
		return nil, nil, err
	}
	conns, err := accountConnections(ctx, s.pool, t, acct.ID)
	if err != nil {
		return nil, nil, err
	}
	return acct, conns, nil
}

// PutConnection implements linkd.ConnectionStore. The account's row is
// locked while fn decides, so concurrent puts on one account queue, and
// each sees the connection and the data key the one before it stored. A
// first connect of an app that races another one past the lock (there is
// none to take on a connection that does not exist yet) fails on the
// unique index connections_account; the transaction then runs again, and
// fn sees the other's connection.
func (s *Store) PutConnection(ctx context.Context, t linkd.Tenant, accountID, slug, authType string,
	fn func(acct *linkd.LinkedAccount, cur *linkd.Connection, configs linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error)) (*linkd.Connection, error) {
	var out *linkd.Connection
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		cur, err := scanConnection(tx.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections
			WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4 AND auth_type = $5`, t.OrgID, t.Env, acct.ID, slug, authType))
		if errors.Is(err, pgx.ErrNoRows) {
			cur = nil
		} else if err != nil {
			return fmt.Errorf("put connection: %w", err)
		}
		// Configs are read in the transaction, not through the pool: a
		// connection held while waiting for another deadlocks once as many
		// puts run at once as the pool has connections.
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
		if next == nil {
			return fmt.Errorf("put connection %s/%s of %q: nothing to write", slug, authType, accountID)
		}
		if dataKey != nil && acct.DataKey == nil {
			if _, err := tx.Exec(ctx, `UPDATE linked_accounts SET data_key = $1 WHERE org_id = $2 AND env = $3 AND id = $4`,
				dataKey, t.OrgID, t.Env, acct.ID); err != nil {
				return fmt.Errorf("put connection: %w", err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO connections (org_id, env, id, account_pk, slug, auth_type, identifier, status, credentials,
				token_expires_at, refresh_failures, last_refresh_at, last_refresh_error, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (org_id, env, id) DO UPDATE SET identifier = excluded.identifier, status = excluded.status,
				credentials = excluded.credentials, token_expires_at = excluded.token_expires_at, refresh_failures = excluded.refresh_failures,
				last_refresh_at = excluded.last_refresh_at, last_refresh_error = excluded.last_refresh_error, updated_at = excluded.updated_at,
				-- A write ends any refresh in progress: its outcome is in.
				refresh_lease_owner = NULL, refresh_lease_until = NULL`,
			t.OrgID, t.Env, next.ID, acct.ID, slug, authType, next.Identifier, next.Status, next.Credentials, nullMicroUTC(next.TokenExpiresAt),
			next.RefreshFailures, nullMicroUTC(next.LastRefreshAt), next.LastRefreshError, microUTC(next.CreatedAt), microUTC(next.UpdatedAt))
		if isConstraint(err, "connections_account") {
			return fmt.Errorf("put connection %s/%s of %q: %w: %w", slug, authType, accountID, errRetry, err)
		} else if err != nil {
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
		if err := insertAudit(ctx, tx, t, ev); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// countConnectedApps refreshes the account's count of connected apps.
func countConnectedApps(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountPK string) error {
	_, err := tx.Exec(ctx, `UPDATE linked_accounts SET connected_apps =
		(SELECT count(DISTINCT slug) FROM connections WHERE org_id = $1 AND env = $2 AND account_pk = $3)
		WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, accountPK)
	if err != nil {
		return fmt.Errorf("count connected apps: %w", err)
	}
	return nil
}

// RemoveConnections implements linkd.ConnectionStore. The account's row is
// locked before its connections are read, so two removals of one
// connection queue: the second finds nothing, and its fn never runs, which
// keeps a token from being queued for revocation twice.
func (s *Store) RemoveConnections(ctx context.Context, t linkd.Tenant, accountID, slug, authType string, fn linkd.RemoveFunc) ([]*linkd.Connection, error) {
	var removed []*linkd.Connection
	err := s.tx(ctx, func(tx pgx.Tx) error {
		removed = nil
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		all, err := accountConnections(ctx, tx, t, acct.ID)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range all {
			if c.Slug == slug && (authType == "" || c.AuthType == authType) {
				removed = append(removed, c)
				ids = append(ids, c.ID)
			}
		}
		if len(removed) == 0 {
			return nil
		}
		revs, ev, err := fn(acct, removed)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM connections WHERE org_id = $1 AND env = $2 AND id = ANY($3::uuid[])`, t.OrgID, t.Env, ids); err != nil {
			return fmt.Errorf("remove connection: %w", err)
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
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM connections WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4)`,
		t.OrgID, t.Env, accountPK, slug).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("connections of %s: %w", slug, err)
	}
	return has, nil
}

func addAppCount(ctx context.Context, tx pgx.Tx, t linkd.Tenant, slug string, delta int) error {
	_, err := tx.Exec(ctx, `INSERT INTO app_counts (org_id, env, slug, n) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, env, slug) DO UPDATE SET n = app_counts.n + excluded.n`, t.OrgID, t.Env, slug, delta)
	if err != nil {
		return fmt.Errorf("count accounts of %s: %w", slug, err)
	}
	return nil
}

// insertRevocations queues revs in the transaction that removes their
// connections, so a token is queued exactly when its connection goes.
func insertRevocations(ctx context.Context, tx pgx.Tx, revs []*linkd.Revocation) error {
	for _, r := range revs {
		_, err := tx.Exec(ctx, `INSERT INTO revocations (id, org_id, env, account_id, slug, token, data_key, attempts, next_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.OrgID, r.Env, r.AccountID, r.Slug, r.Token, r.DataKey, r.Attempts, microUTC(r.NextAt), microUTC(r.CreatedAt))
		if err != nil {
			return fmt.Errorf("queue revocation: %w", err)
		}
	}
	return nil
}

// AppConnection implements linkd.ConnectionStore: the three reads go in one
// batch, one round trip to the server (the proxy makes it on every call).
// The connections are looked up by the account's key, found first through
// its unique account_id: as a join, on tables not analyzed since a large
// import (autovacuum off, or not yet run), PostgreSQL took the connections
// of the app first and scanned all the tenant's accounts for each (1.1 s
// a call at 21,000 accounts), and workflow runs fell behind for good.
func (s *Store) AppConnection(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.LinkedAccount, []*linkd.Connection, *linkd.AppSettings, error) {
	if !isID(t.OrgID) {
		return nil, nil, nil, accountNotFound(t, accountID)
	}
	var b pgx.Batch
	b.Queue(`SELECT `+accountColumns+` FROM linked_accounts WHERE org_id = $1 AND env = $2 AND account_id = $3`, t.OrgID, t.Env, accountID)
	b.Queue(`SELECT `+prefixed("c.", connectionColumns)+` FROM connections c WHERE c.org_id = $1 AND c.env = $2 AND c.slug = $4
		AND c.account_pk = (SELECT id FROM linked_accounts WHERE org_id = $1 AND env = $2 AND account_id = $3) ORDER BY c.auth_type`, t.OrgID, t.Env, accountID, slug)
	b.Queue(`SELECT slug, enabled, client_id, client_secret, data_key, updated_at FROM app_settings
		WHERE org_id = $1 AND env = $2 AND slug = $3`, t.OrgID, t.Env, slug)
	res := s.pool.SendBatch(ctx, &b)
	defer res.Close()
	acct, err := scanAccount(res.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil, accountNotFound(t, accountID)
	} else if err != nil {
		return nil, nil, nil, fmt.Errorf("app connection: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("app connection: %w", err)
	}
	conns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Connection, error) { return scanConnection(r) })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("app connection: %w", err)
	}
	var set linkd.AppSettings
	err = res.QueryRow().Scan(&set.Slug, &set.Enabled, &set.ClientID, &set.ClientSecret, &set.DataKey, &set.UpdatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return acct, conns, nil, nil
	case err != nil:
		return nil, nil, nil, fmt.Errorf("app connection: %w", err)
	}
	set.UpdatedAt = set.UpdatedAt.UTC()
	return acct, conns, &set, nil
}

// prefixed qualifies each column of a column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
