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

const userColumns = `id, org_id, email, created_at, disabled_at`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (*linkd.User, error) {
	var u linkd.User
	var created int64
	var disabled sql.NullInt64
	if err := row.Scan(append([]any{&u.ID, &u.OrgID, &u.Email, &created, &disabled}, extra...)...); err != nil {
		return nil, err
	}
	u.CreatedAt, u.DisabledAt = fromMicros(created), fromNullMicros(disabled)
	return &u, nil
}

// CreateUser implements linkd.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *linkd.User, passwordHash string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.ID, u.OrgID, u.Email, passwordHash, micros(u.CreatedAt))
		if isUnique(err) {
			return linkd.UserEmailTaken(u.Email)
		} else if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(u.OrgID), ev)
	})
}

// UserByEmail implements linkd.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email string) (*linkd.User, string, error) {
	var hash string
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ?`, email), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", linkd.Errorf(linkd.ENOTFOUND, "no user with email %s", email)
	} else if err != nil {
		return nil, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash, nil
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
			return linkd.FirstUserExists()
		}
		u.OrgID = org
		_, err = tx.ExecContext(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.ID, u.OrgID, u.Email, passwordHash, micros(u.CreatedAt))
		if isUnique(err) {
			return linkd.UserEmailTaken(u.Email)
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
		FROM dashboard_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND u.disabled_at IS NULL`, hash).
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

// ListUsers implements linkd.UserStore.
func (s *Store) ListUsers(ctx context.Context, orgID string) ([]*linkd.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE org_id = ? ORDER BY email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*linkd.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserByID implements linkd.UserStore.
func (s *Store) UserByID(ctx context.Context, orgID, id string) (*linkd.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE org_id = ? AND id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.UserNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// userTenant is where audit entries about users go: the organization, in
// no environment.
func userTenant(orgID string) linkd.Tenant { return linkd.Tenant{OrgID: orgID} }

// keepOneEnabled refuses to disable or delete the user when it is the
// organization's last enabled one. The single writer makes the check and
// the change that follows one step.
func keepOneEnabled(ctx context.Context, tx *wtx, orgID, id, what string) error {
	var disabled sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT disabled_at FROM users WHERE org_id = ? AND id = ?`, orgID, id).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return linkd.UserNotFound(id)
	} else if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	if disabled.Valid {
		return nil
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE org_id = ? AND id <> ? AND disabled_at IS NULL`, orgID, id).Scan(&others); err != nil {
		return fmt.Errorf("count enabled users: %w", err)
	}
	if others == 0 {
		return linkd.LastEnabledUser(what)
	}
	return nil
}

// SetUserDisabled implements linkd.UserStore.
func (s *Store) SetUserDisabled(ctx context.Context, orgID, id string, at *time.Time, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if at != nil {
			if err := keepOneEnabled(ctx, tx, orgID, id, "disabling"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, id); err != nil {
				return fmt.Errorf("delete sessions: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = ? WHERE org_id = ? AND id = ?`, nullMicros(at), orgID, id)
		if err != nil {
			return fmt.Errorf("set user disabled: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.UserNotFound(id)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// SetUserPassword implements linkd.UserStore.
func (s *Store) SetUserPassword(ctx context.Context, orgID, id, passwordHash string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE org_id = ? AND id = ?`, passwordHash, orgID, id)
		if err != nil {
			return fmt.Errorf("set user password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.UserNotFound(id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// DeleteUserSessions implements linkd.UserStore.
func (s *Store) DeleteUserSessions(ctx context.Context, orgID, id string, ev *linkd.AuditEntry) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE org_id = ? AND id = ?`, orgID, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.UserNotFound(id)
		} else if err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
	return int(n), err
}

// DeleteUser implements linkd.UserStore.
func (s *Store) DeleteUser(ctx context.Context, orgID, id string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if err := keepOneEnabled(ctx, tx, orgID, id, "deleting"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// UpdateLoginThrottles implements linkd.UserStore. The single writer runs
// the read and the write as one step, so parallel sign-ins take turns.
func (s *Store) UpdateLoginThrottles(ctx context.Context, keys []string, prune time.Time, fn func([]linkd.LoginThrottle) ([]linkd.LoginThrottle, error)) error {
	return s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_throttles WHERE last_at < ?`, micros(prune)); err != nil {
			return fmt.Errorf("prune login throttles: %w", err)
		}
		cur := make([]linkd.LoginThrottle, len(keys))
		for i, k := range keys {
			var first, last int64
			err := tx.QueryRowContext(ctx, `SELECT attempts, first_at, last_at FROM login_throttles WHERE key = ?`, k).Scan(&cur[i].Attempts, &first, &last)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return fmt.Errorf("read login throttle: %w", err)
			}
			cur[i].First, cur[i].Last = fromMicros(first), fromMicros(last)
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		for i, k := range keys {
			t := next[i]
			if t.Attempts <= 0 {
				_, err = tx.ExecContext(ctx, `DELETE FROM login_throttles WHERE key = ?`, k)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO login_throttles (key, attempts, first_at, last_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (key) DO UPDATE SET attempts = excluded.attempts, first_at = excluded.first_at, last_at = excluded.last_at`,
					k, t.Attempts, micros(t.First), micros(t.Last))
			}
			if err != nil {
				return fmt.Errorf("write login throttle: %w", err)
			}
		}
		return nil
	})
}
