package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// CreateConnectSession implements linkd.HostedStore.
func (s *Store) CreateConnectSession(ctx context.Context, t linkd.Tenant, cs *linkd.ConnectSession, hash []byte) error {
	return s.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, cs.AccountID).Scan(&cs.AccountPK)
		if errors.Is(err, sql.ErrNoRows) {
			return &linkd.Error{Code: linkd.ENOTFOUND, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID",
				Message: fmt.Sprintf("No linked account found for account id : %s in environment %s", cs.AccountID, t.Env)}
		} else if err != nil {
			return fmt.Errorf("create connect session: %w", err)
		}
		cs.OrgID, cs.Env = t.OrgID, t.Env
		// The account's expired sessions are swept by its next one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM connect_sessions WHERE org_id = ? AND env = ? AND account_pk = ? AND expires_at <= ?`,
			t.OrgID, t.Env, cs.AccountPK, micros(cs.CreatedAt)); err != nil {
			return fmt.Errorf("create connect session: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO connect_sessions (id, org_id, env, account_pk, hash, config_id, session_id, properties, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, cs.ID, t.OrgID, t.Env, cs.AccountPK, hash, cs.ConfigID, nullString(cs.SessionID), string(cs.Properties),
			micros(cs.ExpiresAt), micros(cs.CreatedAt))
		if err != nil {
			return fmt.Errorf("create connect session: %w", err)
		}
		return nil
	})
}

const connectSessionColumns = `c.id, c.org_id, c.env, c.account_pk, a.account_id, c.config_id, coalesce(c.session_id, ''), c.properties, c.expires_at, c.created_at`

func scanConnectSession(row interface{ Scan(...any) error }) (*linkd.ConnectSession, error) {
	var cs linkd.ConnectSession
	var props string
	var expires, created int64
	if err := row.Scan(&cs.ID, &cs.OrgID, &cs.Env, &cs.AccountPK, &cs.AccountID, &cs.ConfigID, &cs.SessionID, &props, &expires, &created); err != nil {
		return nil, err
	}
	cs.Properties = []byte(props)
	cs.ExpiresAt, cs.CreatedAt = fromMicros(expires), fromMicros(created)
	return &cs, nil
}

// ConnectSessionByHash implements linkd.HostedStore.
func (s *Store) ConnectSessionByHash(ctx context.Context, hash []byte) (*linkd.ConnectSession, error) {
	cs, err := scanConnectSession(s.r.QueryRowContext(ctx, `SELECT `+connectSessionColumns+`
		FROM connect_sessions c JOIN linked_accounts a ON a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk
		WHERE c.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such connect session")
	} else if err != nil {
		return nil, fmt.Errorf("connect session by hash: %w", err)
	}
	return cs, nil
}

// LatestConnectSession implements linkd.HostedStore.
func (s *Store) LatestConnectSession(ctx context.Context, t linkd.Tenant, accountID string, now time.Time) (*linkd.ConnectSession, error) {
	cs, err := scanConnectSession(s.r.QueryRowContext(ctx, `SELECT `+connectSessionColumns+`
		FROM linked_accounts a JOIN connect_sessions c ON c.org_id = a.org_id AND c.env = a.env AND c.account_pk = a.id
		WHERE a.org_id = ? AND a.env = ? AND a.account_id = ? AND c.expires_at > ?
		ORDER BY c.created_at DESC, c.id DESC LIMIT 1`, t.OrgID, t.Env, accountID, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no connect session for linked account %s", accountID)
	} else if err != nil {
		return nil, fmt.Errorf("latest connect session: %w", err)
	}
	return cs, nil
}

// RevokeConnectSessions implements linkd.HostedStore.
func (s *Store) RevokeConnectSessions(ctx context.Context, t linkd.Tenant, accountID string, ev *linkd.AuditEntry) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM connect_sessions WHERE org_id = ? AND env = ? AND account_pk = ?`, t.OrgID, t.Env, acct.ID)
		if err != nil {
			return fmt.Errorf("revoke connect sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return insertAudit(ctx, tx, t, ev)
	})
	return int(n), err
}

// AllowedOrigins implements linkd.HostedStore.
func (s *Store) AllowedOrigins(ctx context.Context, t linkd.Tenant) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT origin FROM allowed_origins WHERE org_id = ? AND env = ? ORDER BY origin`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("allowed origins: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("allowed origins: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// PutAllowedOrigins implements linkd.HostedStore.
func (s *Store) PutAllowedOrigins(ctx context.Context, t linkd.Tenant, origins []string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM orgs WHERE id = ?`, t.OrgID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.OrgNotFound(t.OrgID)
		} else if err != nil {
			return fmt.Errorf("put allowed origins: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM allowed_origins WHERE org_id = ? AND env = ?`, t.OrgID, t.Env); err != nil {
			return fmt.Errorf("put allowed origins: %w", err)
		}
		for _, o := range origins {
			if _, err := tx.ExecContext(ctx, `INSERT INTO allowed_origins (org_id, env, origin) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, t.OrgID, t.Env, o); err != nil {
				return fmt.Errorf("put allowed origins: %w", err)
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
