package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// CreateSessionToken implements linkd.SessionStore.
func (s *Store) CreateSessionToken(ctx context.Context, t linkd.Tenant, accountID string, st *linkd.SessionToken, hash, refreshHash []byte) error {
	return s.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, accountID).Scan(&st.AccountPK)
		if errors.Is(err, sql.ErrNoRows) {
			return &linkd.Error{Code: linkd.ENOTFOUND, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID",
				Message: fmt.Sprintf("No linked account found for account id : %s in environment %s", accountID, t.Env)}
		} else if err != nil {
			return fmt.Errorf("create session token: %w", err)
		}
		st.OrgID, st.Env, st.AccountID = t.OrgID, t.Env, accountID
		_, err = tx.ExecContext(ctx, `INSERT INTO session_tokens (id, org_id, env, account_pk, hash, refresh_hash, expires_at, refresh_expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, st.ID, t.OrgID, t.Env, st.AccountPK, hash, refreshHash,
			micros(st.ExpiresAt), micros(st.RefreshExpiresAt), micros(st.CreatedAt))
		if err != nil {
			return fmt.Errorf("create session token: %w", err)
		}
		return nil
	})
}

// SessionByHash implements linkd.SessionStore.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, refresh bool) (*linkd.SessionToken, error) {
	col := "hash"
	if refresh {
		col = "refresh_hash"
	}
	var st linkd.SessionToken
	var exp, rexp, created int64
	var revoked sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT s.id, s.org_id, s.env, s.account_pk, a.account_id, s.expires_at, s.refresh_expires_at, s.revoked_at, s.created_at
		FROM session_tokens s JOIN linked_accounts a ON a.org_id = s.org_id AND a.env = s.env AND a.id = s.account_pk
		WHERE s.`+col+` = ?`, hash).Scan(&st.ID, &st.OrgID, &st.Env, &st.AccountPK, &st.AccountID, &exp, &rexp, &revoked, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such session token")
	} else if err != nil {
		return nil, fmt.Errorf("session by hash: %w", err)
	}
	st.ExpiresAt, st.RefreshExpiresAt, st.CreatedAt = fromMicros(exp), fromMicros(rexp), fromMicros(created)
	st.RevokedAt = fromNullMicros(revoked)
	return &st, nil
}

// RevokeSessionToken implements linkd.SessionStore.
func (s *Store) RevokeSessionToken(ctx context.Context, id string, at time.Time) (bool, error) {
	var live bool
	err := s.tx(ctx, func(tx *wtx) error {
		var org, env string
		err := tx.QueryRowContext(ctx, `SELECT org_id, env FROM session_tokens WHERE id = ?`, id).Scan(&org, &env)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE session_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		live = n > 0
		_, err = tx.ExecContext(ctx, `DELETE FROM connect_sessions WHERE org_id = ? AND env = ? AND session_id = ?`, org, env, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revoke session token: %w", err)
	}
	return live, nil
}
