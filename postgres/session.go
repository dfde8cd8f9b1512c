package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// CreateSessionToken implements linkd.SessionStore.
func (s *Store) CreateSessionToken(ctx context.Context, t linkd.Tenant, accountID string, st *linkd.SessionToken, hash, refreshHash []byte) error {
	notFound := &linkd.Error{Code: linkd.ENOTFOUND, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID",
		Message: fmt.Sprintf("No linked account found for account id : %s in environment %s", accountID, t.Env)}
	if !isID(t.OrgID) {
		return notFound
	}
	// One statement: the token is only written if the account exists, and
	// a concurrent delete of the account cannot slip in between.
	err := s.pool.QueryRow(ctx, `INSERT INTO session_tokens (id, org_id, env, account_pk, hash, refresh_hash, expires_at, refresh_expires_at, created_at)
		SELECT $1, org_id, env, id, $2, $3, $4, $5, $6 FROM linked_accounts WHERE org_id = $7 AND env = $8 AND account_id = $9
		RETURNING account_pk`, st.ID, hash, refreshHash, st.ExpiresAt, st.RefreshExpiresAt, st.CreatedAt, t.OrgID, t.Env, accountID).Scan(&st.AccountPK)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound
	} else if err != nil {
		return fmt.Errorf("create session token: %w", err)
	}
	st.OrgID, st.Env, st.AccountID = t.OrgID, t.Env, accountID
	return nil
}

// SessionByHash implements linkd.SessionStore.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, refresh bool) (*linkd.SessionToken, error) {
	col := "hash"
	if refresh {
		col = "refresh_hash"
	}
	var st linkd.SessionToken
	err := s.pool.QueryRow(ctx, `SELECT s.id, s.org_id, s.env, s.account_pk, a.account_id, s.expires_at, s.refresh_expires_at, s.revoked_at, s.created_at
		FROM session_tokens s JOIN linked_accounts a ON a.org_id = s.org_id AND a.env = s.env AND a.id = s.account_pk
		WHERE s.`+col+` = $1`, hash).Scan(&st.ID, &st.OrgID, &st.Env, &st.AccountPK, &st.AccountID, &st.ExpiresAt, &st.RefreshExpiresAt, &st.RevokedAt, &st.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such session token")
	} else if err != nil {
		return nil, fmt.Errorf("session by hash: %w", err)
	}
	st.ExpiresAt, st.RefreshExpiresAt, st.CreatedAt = st.ExpiresAt.UTC(), st.RefreshExpiresAt.UTC(), st.CreatedAt.UTC()
	if st.RevokedAt != nil {
		r := st.RevokedAt.UTC()
		st.RevokedAt = &r
	}
	return &st, nil
}

// RevokeSessionToken implements linkd.SessionStore.
func (s *Store) RevokeSessionToken(ctx context.Context, id string, at time.Time) (bool, error) {
	if !isID(id) {
		return false, nil
	}
	var live bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The row lock orders a revocation after a concurrent one, so
		// exactly one reports the token live.
		var org, env string
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT org_id, env, revoked_at FROM session_tokens WHERE id = $1 FOR UPDATE`, id).Scan(&org, &env, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		live = revoked == nil
		if live {
			if _, err := tx.Exec(ctx, `UPDATE session_tokens SET revoked_at = $1 WHERE id = $2`, at, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM connect_sessions WHERE org_id = $1 AND env = $2 AND session_id = $3`, org, env, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revoke session token: %w", err)
	}
	return live, nil
}
