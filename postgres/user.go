package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.UserStore = (*Store)(nil)

func emailTaken(email string) error {
	return &linkd.Error{Code: linkd.EEXISTS, Field: "email", Message: fmt.Sprintf("A user with the email %s exists already.", email)}
}

// CreateUser implements linkd.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *linkd.User, passwordHash string) error {
	if !isID(u.OrgID) {
		return linkd.Errorf(linkd.ENOTFOUND, "no organization %s", u.OrgID)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.OrgID, u.Email, passwordHash, u.CreatedAt)
	if isUnique(err) {
		return emailTaken(u.Email)
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByEmail implements linkd.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (*linkd.User, string, error) {
	var u linkd.User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, org_id, email, password_hash, created_at FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.OrgID, &u.Email, &hash, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", linkd.Errorf(linkd.ENOTFOUND, "no user with email %s", email)
	} else if err != nil {
		return nil, "", fmt.Errorf("user by email: %w", err)
	}
	return &u, hash, nil
}

// CountUsers implements linkd.UserStore.
func (s *Store) CountUsers(ctx context.Context, orgID string) (int, error) {
	if !isID(orgID) {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1`, orgID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// AddSetupCode implements linkd.UserStore.
func (s *Store) AddSetupCode(ctx context.Context, orgID string, hash []byte, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO setup_codes (hash, org_id, expires_at) VALUES ($1, $2, $3)`, hash, orgID, expiresAt)
	if err != nil {
		return fmt.Errorf("add setup code: %w", err)
	}
	return nil
}

// CreateFirstUser implements linkd.UserStore. The organization's row is
// locked first, so that two browsers with two live codes cannot both find
// it without users and both create one.
func (s *Store) CreateFirstUser(ctx context.Context, codeHash []byte, now time.Time, u *linkd.User, passwordHash string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var org string
		err := tx.QueryRow(ctx, `SELECT o.id FROM setup_codes c JOIN orgs o ON o.id = c.org_id
			WHERE c.hash = $1 AND c.expires_at > $2 FOR UPDATE OF o`, codeHash, now).Scan(&org)
		if errors.Is(err, pgx.ErrNoRows) {
			return &linkd.Error{Code: linkd.ENOTFOUND, Field: "code", Message: "That setup code is not valid (or has expired). Use the code the server logged at its last start."}
		} else if err != nil {
			return fmt.Errorf("find setup code: %w", err)
		}
		// The code may have been used while this transaction waited.
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM setup_codes WHERE hash = $1)`, codeHash).Scan(&live); err != nil {
			return fmt.Errorf("find setup code: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1`, org).Scan(&n); err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		if n > 0 || !live {
			return linkd.Errorf(linkd.EEXISTS, "The organization has a user already; sign in instead.")
		}
		u.OrgID = org
		_, err = tx.Exec(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			u.ID, u.OrgID, u.Email, passwordHash, u.CreatedAt)
		if isUnique(err) {
			return emailTaken(u.Email)
		} else if err != nil {
			return fmt.Errorf("create first user: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM setup_codes WHERE org_id = $1`, org); err != nil {
			return fmt.Errorf("delete setup codes: %w", err)
		}
		return nil
	})
}

// CreateDashboardSession implements linkd.UserStore.
func (s *Store) CreateDashboardSession(ctx context.Context, ds *linkd.DashboardSession, hash []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dashboard_sessions (id, hash, user_id, org_id, env, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ds.ID, hash, ds.UserID, ds.OrgID, ds.Env, ds.ExpiresAt, ds.CreatedAt)
	if err != nil {
		return fmt.Errorf("create dashboard session: %w", err)
	}
	return nil
}

// DashboardSessionByHash implements linkd.UserStore.
func (s *Store) DashboardSessionByHash(ctx context.Context, hash []byte) (*linkd.DashboardSession, error) {
	var ds linkd.DashboardSession
	err := s.pool.QueryRow(ctx, `SELECT s.id, s.user_id, s.org_id, u.email, s.env, s.expires_at, s.created_at
		FROM dashboard_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = $1`, hash).
		Scan(&ds.ID, &ds.UserID, &ds.OrgID, &ds.Email, &ds.Env, &ds.ExpiresAt, &ds.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such session")
	} else if err != nil {
		return nil, fmt.Errorf("dashboard session by hash: %w", err)
	}
	return &ds, nil
}

// SetDashboardSessionEnv implements linkd.UserStore.
func (s *Store) SetDashboardSessionEnv(ctx context.Context, id string, env linkd.Environment) error {
	if !isID(id) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE dashboard_sessions SET env = $1 WHERE id = $2`, env, id); err != nil {
		return fmt.Errorf("set session environment: %w", err)
	}
	return nil
}

// DeleteDashboardSession implements linkd.UserStore.
func (s *Store) DeleteDashboardSession(ctx context.Context, id string) error {
	if !isID(id) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete dashboard session: %w", err)
	}
	return nil
}

// AddLoginFailure implements linkd.UserStore.
func (s *Store) AddLoginFailure(ctx context.Context, key string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `WITH pruned AS (DELETE FROM login_failures WHERE key = $1 AND at < $2)
		INSERT INTO login_failures (key, at, id) VALUES ($1, $3, $4)`, key, at.Add(-linkd.LoginWindow), at, linkd.NewID())
	if err != nil {
		return fmt.Errorf("add login failure: %w", err)
	}
	return nil
}

// LoginFailures implements linkd.UserStore.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM login_failures WHERE key = $1 AND at >= $2`, key, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count login failures: %w", err)
	}
	return n, nil
}

// ClearLoginFailures implements linkd.UserStore.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}
