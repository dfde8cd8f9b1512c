package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.UserStore = (*Store)(nil)

// CreateUser implements linkd.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *linkd.User, passwordHash string) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Email, passwordHash, micros(u.CreatedAt))
	if isUnique(err) {
		return &linkd.Error{Code: linkd.EEXISTS, Field: "email", Message: fmt.Sprintf("A user with the email %s exists already.", u.Email)}
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByEmail implements linkd.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (*linkd.User, string, error) {
	var u linkd.User
	var hash string
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, org_id, email, password_hash, created_at FROM users WHERE email = ?`, email).
		Scan(&u.ID, &u.OrgID, &u.Email, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", linkd.Errorf(linkd.ENOTFOUND, "no user with email %s", email)
	} else if err != nil {
		return nil, "", fmt.Errorf("user by email: %w", err)
	}
	u.CreatedAt = fromMicros(created)
	return &u, hash, nil
}

// CountUsers implements linkd.UserStore.
func (s *Store) CountUsers(ctx context.Context, orgID string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE org_id = ?`, orgID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// AddSetupCode implements linkd.UserStore.
func (s *Store) AddSetupCode(ctx context.Context, orgID string, hash []byte, expiresAt time.Time) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO setup_codes (hash, org_id, expires_at) VALUES (?, ?, ?)`, hash, orgID, micros(expiresAt))
	if err != nil {
		return fmt.Errorf("add setup code: %w", err)
	}
	return nil
}

// CreateFirstUser implements linkd.UserStore. The single writer serialises
// it, so two browsers racing with the same code cannot both create a user.
func (s *Store) CreateFirstUser(ctx context.Context, codeHash []byte, now time.Time, u *linkd.User, passwordHash string) error {
	return s.tx(ctx, func(tx *wtx) error {
		var org string
		err := tx.QueryRowContext(ctx, `SELECT org_id FROM setup_codes WHERE hash = ? AND expires_at > ?`, codeHash, micros(now)).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return &linkd.Error{Code: linkd.ENOTFOUND, Field: "code", Message: "That setup code is not valid (or has expired). Use the code the server logged at its last start."}
		} else if err != nil {
			return fmt.Errorf("find setup code: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE org_id = ?`, org).Scan(&n); err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		if n > 0 {
			return linkd.Errorf(linkd.EEXISTS, "The organization has a user already; sign in instead.")
		}
		u.OrgID = org
		_, err = tx.ExecContext(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.ID, u.OrgID, u.Email, passwordHash, micros(u.CreatedAt))
		if isUnique(err) {
			return &linkd.Error{Code: linkd.EEXISTS, Field: "email", Message: fmt.Sprintf("A user with the email %s exists already.", u.Email)}
		} else if err != nil {
			return fmt.Errorf("create first user: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM setup_codes WHERE org_id = ?`, org); err != nil {
			return fmt.Errorf("delete setup codes: %w", err)
		}
		return nil
	})
}

// CreateDashboardSession implements linkd.UserStore.
func (s *Store) CreateDashboardSession(ctx context.Context, ds *linkd.DashboardSession, hash []byte) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO dashboard_sessions (id, hash, user_id, org_id, env, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ds.ID, hash, ds.UserID, ds.OrgID, ds.Env, micros(ds.ExpiresAt), micros(ds.CreatedAt))
	if err != nil {
		return fmt.Errorf("create dashboard session: %w", err)
	}
	return nil
}

// DashboardSessionByHash implements linkd.UserStore.
func (s *Store) DashboardSessionByHash(ctx context.Context, hash []byte) (*linkd.DashboardSession, error) {
	var ds linkd.DashboardSession
	var exp, created int64
	err := s.r.QueryRowContext(ctx, `SELECT s.id, s.user_id, s.org_id, u.email, s.env, s.expires_at, s.created_at
		FROM dashboard_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hash).
		Scan(&ds.ID, &ds.UserID, &ds.OrgID, &ds.Email, &ds.Env, &exp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no such session")
	} else if err != nil {
		return nil, fmt.Errorf("dashboard session by hash: %w", err)
	}
	ds.ExpiresAt, ds.CreatedAt = fromMicros(exp), fromMicros(created)
	return &ds, nil
}

// SetDashboardSessionEnv implements linkd.UserStore.
func (s *Store) SetDashboardSessionEnv(ctx context.Context, id string, env linkd.Environment) error {
	_, err := s.write.ExecContext(ctx, `UPDATE dashboard_sessions SET env = ? WHERE id = ?`, env, id)
	if err != nil {
		return fmt.Errorf("set session environment: %w", err)
	}
	return nil
}

// DeleteDashboardSession implements linkd.UserStore.
func (s *Store) DeleteDashboardSession(ctx context.Context, id string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete dashboard session: %w", err)
	}
	return nil
}

// AddLoginFailure implements linkd.UserStore.
func (s *Store) AddLoginFailure(ctx context.Context, key string, at time.Time) error {
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ? AND at < ?`, key, micros(at.Add(-linkd.LoginWindow))); err != nil {
			return fmt.Errorf("prune login failures: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, at, id) VALUES (?, ?, ?)`, key, micros(at), linkd.NewID()); err != nil {
			return fmt.Errorf("add login failure: %w", err)
		}
		return nil
	})
}

// LoginFailures implements linkd.UserStore.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM login_failures WHERE key = ? AND at >= ?`, key, micros(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count login failures: %w", err)
	}
	return n, nil
}

// ClearLoginFailures implements linkd.UserStore.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}
