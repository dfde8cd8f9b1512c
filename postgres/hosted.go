package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// CreateConnectSession implements linkd.HostedStore.
func (s *Store) CreateConnectSession(ctx context.Context, t linkd.Tenant, cs *linkd.ConnectSession, hash []byte) error {
	notFound := &linkd.Error{Code: linkd.ENOTFOUND, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID",
		Message: fmt.Sprintf("No linked account found for account id : %s in environment %s", cs.AccountID, t.Env)}
	if !isID(t.OrgID) {
		return notFound
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// One statement: the session is only written if the account exists,
		// and the foreign key holds the account until the commit.
		var session *string
		if cs.SessionID != "" {
			session = &cs.SessionID
		}
		err := tx.QueryRow(ctx, `INSERT INTO connect_sessions (id, org_id, env, account_pk, hash, config_id, session_id, properties, expires_at, created_at)
			SELECT $1, org_id, env, id, $2, $3, $4, $5, $6, $7 FROM linked_accounts WHERE org_id = $8 AND env = $9 AND account_id = $10
			RETURNING account_pk`, cs.ID, hash, cs.ConfigID, session, string(cs.Properties), cs.ExpiresAt, cs.CreatedAt, t.OrgID, t.Env, cs.AccountID).Scan(&cs.AccountPK)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		} else if err != nil {
			return fmt.Errorf("create connect session: %w", err)
		}
		cs.OrgID, cs.Env = t.OrgID, t.Env
		// The account's expired sessions are swept by its next one.
		if _, err := tx.Exec(ctx, `DELETE FROM connect_sessions WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND expires_at <= $4`,
			t.OrgID, t.Env, cs.AccountPK, cs.CreatedAt); err != nil {
			return fmt.Errorf("create connect session: %w", err)
		}
		return nil
	})
}

const connectSessionColumns = `c.id, c.org_id, c.env, c.account_pk, a.account_id, c.config_id, coalesce(c.session_id::text, ''), c.properties::text, c.expires_at, c.created_at`

func scanConnectSession(row pgx.Row) (*linkd.ConnectSession, error) {
	var cs linkd.ConnectSession
	var props string
	if err := row.Scan(&cs.ID, &cs.OrgID, &cs.Env, &cs.AccountPK, &cs.AccountID, &cs.ConfigID, &cs.SessionID, &props, &cs.ExpiresAt, &cs.CreatedAt); err != nil {
		return nil, err
	}
	cs.Properties = []byte(props)
	cs.ExpiresAt, cs.CreatedAt = cs.ExpiresAt.UTC(), cs.CreatedAt.UTC()
	return &cs, nil
}

// ConnectSessionByHash implements linkd.HostedStore.
func (s *Store) ConnectSessionByHash(ctx context.Context, hash []byte) (*linkd.ConnectSession, error) {
	cs, err := scanConnectSession(s.pool.QueryRow(ctx, `SELECT `+connectSessionColumns+`
		FROM connect_sessions c JOIN linked_accounts a ON a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk
		WHERE c.hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such connect session")
	} else if err != nil {
		return nil, fmt.Errorf("connect session by hash: %w", err)
	}
	return cs, nil
}

// LatestConnectSession implements linkd.HostedStore.
func (s *Store) LatestConnectSession(ctx context.Context, t linkd.Tenant, accountID string, now time.Time) (*linkd.ConnectSession, error) {
	notFound := linkd.Errorf(linkd.ENOTFOUND, "no connect session for linked account %s", accountID)
	if !isID(t.OrgID) {
		return nil, notFound
	}
	cs, err := scanConnectSession(s.pool.QueryRow(ctx, `SELECT `+connectSessionColumns+`
		FROM linked_accounts a JOIN connect_sessions c ON c.org_id = a.org_id AND c.env = a.env AND c.account_pk = a.id
		WHERE a.org_id = $1 AND a.env = $2 AND a.account_id = $3 AND c.expires_at > $4
		ORDER BY c.created_at DESC, c.id DESC LIMIT 1`, t.OrgID, t.Env, accountID, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("latest connect session: %w", err)
	}
	return cs, nil
}

// RevokeConnectSessions implements linkd.HostedStore.
func (s *Store) RevokeConnectSessions(ctx context.Context, t linkd.Tenant, accountID string, ev *linkd.AuditEntry) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM connect_sessions WHERE org_id = $1 AND env = $2 AND account_pk = $3`, t.OrgID, t.Env, acct.ID)
		if err != nil {
			return fmt.Errorf("revoke connect sessions: %w", err)
		}
		n = tag.RowsAffected()
		return insertAudit(ctx, tx, t, ev)
	})
	return int(n), err
}

// AllowedOrigins implements linkd.HostedStore.
func (s *Store) AllowedOrigins(ctx context.Context, t linkd.Tenant) ([]string, error) {
	out := []string{}
	if !isID(t.OrgID) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT origin FROM allowed_origins WHERE org_id = $1 AND env = $2 ORDER BY origin`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("allowed origins: %w", err)
	}
	out, err = pgx.AppendRows(out, rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("allowed origins: %w", err)
	}
	return out, nil
}

// PutAllowedOrigins implements linkd.HostedStore.
func (s *Store) PutAllowedOrigins(ctx context.Context, t linkd.Tenant, origins []string, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) {
		return linkd.OrgNotFound(t.OrgID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// Two replacements at once would each delete only the rows they
		// saw and leave the union of both lists: the organization's row
		// makes them take turns (NO KEY UPDATE leaves inserts that
		// reference the organization alone).
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, t.OrgID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return linkd.OrgNotFound(t.OrgID)
		} else if err != nil {
			return fmt.Errorf("put allowed origins: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM allowed_origins WHERE org_id = $1 AND env = $2`, t.OrgID, t.Env); err != nil {
			return fmt.Errorf("put allowed origins: %w", err)
		}
		if len(origins) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO allowed_origins (org_id, env, origin) SELECT $1, $2, o FROM unnest($3::text[]) AS o
				ON CONFLICT DO NOTHING`, t.OrgID, t.Env, origins)
			if err != nil {
				return fmt.Errorf("put allowed origins: %w", err)
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
