package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// CreateOAuthState implements linkd.OAuthStateStore.
func (s *Store) CreateOAuthState(ctx context.Context, t linkd.Tenant, st *linkd.OAuthState) error {
	return s.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = ?`, t.OrgID, t.Env, st.AccountID).Scan(&st.AccountPK)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.AccountNotFound(st.AccountID)
		} else if err != nil {
			return fmt.Errorf("create oauth state: %w", err)
		}
		st.OrgID, st.Env = t.OrgID, t.Env
		// Expired states are swept by whoever makes a new one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, micros(st.CreatedAt)); err != nil {
			return fmt.Errorf("create oauth state: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_states (hash, org_id, env, account_pk, account_id, slug, return_to, expires_at, created_at, browser_hash, origin)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, st.Hash, t.OrgID, t.Env, st.AccountPK, st.AccountID, st.Slug, st.ReturnTo, micros(st.ExpiresAt), micros(st.CreatedAt),
			st.BrowserHash, st.Origin)
		if err != nil {
			return fmt.Errorf("create oauth state: %w", err)
		}
		return nil
	})
}

// TakeOAuthState implements linkd.OAuthStateStore.
func (s *Store) TakeOAuthState(ctx context.Context, hash []byte, now time.Time) (*linkd.OAuthState, error) {
	var st linkd.OAuthState
	var expires, created int64
	err := s.tx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM oauth_states WHERE hash = ?
			RETURNING hash, org_id, env, account_pk, account_id, slug, return_to, expires_at, created_at, browser_hash, origin`, hash).
			Scan(&st.Hash, &st.OrgID, &st.Env, &st.AccountPK, &st.AccountID, &st.Slug, &st.ReturnTo, &expires, &created, &st.BrowserHash, &st.Origin)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.OAuthStateUnknown()
	} else if err != nil {
		return nil, fmt.Errorf("take oauth state: %w", err)
	}
	st.ExpiresAt, st.CreatedAt = fromMicros(expires), fromMicros(created)
	if !now.Before(st.ExpiresAt) {
		return nil, linkd.OAuthStateExpired()
	}
	return &st, nil
}
