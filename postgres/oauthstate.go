package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

// CreateOAuthState implements linkd.OAuthStateStore.
func (s *Store) CreateOAuthState(ctx context.Context, t linkd.Tenant, st *linkd.OAuthState) error {
	notFound := linkd.AccountNotFound(st.AccountID)
	if !isID(t.OrgID) {
		return notFound
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, st.CreatedAt); err != nil {
			return fmt.Errorf("create oauth state: %w", err)
		}
		err := tx.QueryRow(ctx, `INSERT INTO oauth_states (hash, org_id, env, account_pk, account_id, slug, return_to, expires_at, created_at, browser_hash, origin)
			SELECT $1, org_id, env, id, account_id, $2, $3, $4, $5, $9, $10 FROM linked_accounts WHERE org_id = $6 AND env = $7 AND account_id = $8
			RETURNING account_pk`, st.Hash, st.Slug, st.ReturnTo, st.ExpiresAt, st.CreatedAt, t.OrgID, t.Env, st.AccountID, st.BrowserHash, st.Origin).Scan(&st.AccountPK)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		} else if err != nil {
			return fmt.Errorf("create oauth state: %w", err)
		}
		st.OrgID, st.Env = t.OrgID, t.Env
		return nil
	})
}

// TakeOAuthState implements linkd.OAuthStateStore.
func (s *Store) TakeOAuthState(ctx context.Context, hash []byte, now time.Time) (*linkd.OAuthState, error) {
	var st linkd.OAuthState
	err := s.pool.QueryRow(ctx, `DELETE FROM oauth_states WHERE hash = $1
		RETURNING hash, org_id, env, account_pk, account_id, slug, return_to, expires_at, created_at, browser_hash, origin`, hash).
		Scan(&st.Hash, &st.OrgID, &st.Env, &st.AccountPK, &st.AccountID, &st.Slug, &st.ReturnTo, &st.ExpiresAt, &st.CreatedAt, &st.BrowserHash, &st.Origin)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.OAuthStateUnknown()
	} else if err != nil {
		return nil, fmt.Errorf("take oauth state: %w", err)
	}
	st.ExpiresAt, st.CreatedAt = st.ExpiresAt.UTC(), st.CreatedAt.UTC()
	if !now.Before(st.ExpiresAt) {
		return nil, linkd.OAuthStateExpired()
	}
	return &st, nil
}
