package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/linkd-dev/linkd"
)

var _ linkd.UserStore = (*Store)(nil)

const userColumns = `id, org_id, email, created_at, disabled_at`

func noUser(id string) error {
	return linkd.UserNotFound(id)
}

// CreateUser implements linkd.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *linkd.User, passwordHash string, ev *linkd.AuditEntry) error {
	if !isID(u.OrgID) {
		return linkd.OrgNotFound(u.OrgID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			u.ID, u.OrgID, u.Email, passwordHash, u.CreatedAt)
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
	var u linkd.User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.OrgID, &u.Email, &u.CreatedAt, &u.DisabledAt, &hash)
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
			return linkd.FirstUserExists()
		}
		u.OrgID = org
		_, err = tx.Exec(ctx, `INSERT INTO users (id, org_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			u.ID, u.OrgID, u.Email, passwordHash, u.CreatedAt)
		if isUnique(err) {
			return linkd.UserEmailTaken(u.Email)
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
		FROM dashboard_sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = $1 AND u.disabled_at IS NULL`, hash).
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

// ListUsers implements linkd.UserStore.
func (s *Store) ListUsers(ctx context.Context, orgID string) ([]*linkd.User, error) {
	if !isID(orgID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE org_id = $1 ORDER BY email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*linkd.User, error) {
		var u linkd.User
		return &u, row.Scan(&u.ID, &u.OrgID, &u.Email, &u.CreatedAt, &u.DisabledAt)
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UserByID implements linkd.UserStore.
func (s *Store) UserByID(ctx context.Context, orgID, id string) (*linkd.User, error) {
	if !isID(orgID) || !isID(id) {
		return nil, noUser(id)
	}
	var u linkd.User
	err := s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE org_id = $1 AND id = $2`, orgID, id).
		Scan(&u.ID, &u.OrgID, &u.Email, &u.CreatedAt, &u.DisabledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, noUser(id)
	} else if err != nil {
		return nil, fmt.Errorf("user by id: %w", err)
	}
	return &u, nil
}

// userTenant is where audit entries about users go: the organization, in
// no environment.
func userTenant(orgID string) linkd.Tenant { return linkd.Tenant{OrgID: orgID} }

// lockUser locks the organization's row, so that changes to which of its
// users are enabled take turns (two administrators disabling each other
// at once), and checks that the user exists.
func lockUser(ctx context.Context, tx pgx.Tx, orgID, id string) (disabled bool, err error) {
	if !isID(orgID) || !isID(id) {
		return false, noUser(id)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, orgID); err != nil {
		return false, fmt.Errorf("lock organization: %w", err)
	}
	var at *time.Time
	err = tx.QueryRow(ctx, `SELECT disabled_at FROM users WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, noUser(id)
	} else if err != nil {
		return false, fmt.Errorf("find user: %w", err)
	}
	return at != nil, nil
}

// keepOneEnabled refuses to disable or delete the organization's last
// enabled user; the caller holds the organization's lock (lockUser).
func keepOneEnabled(ctx context.Context, tx pgx.Tx, orgID, id string, disabled bool, what string) error {
	if disabled {
		return nil
	}
	var others int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1 AND id <> $2 AND disabled_at IS NULL`, orgID, id).Scan(&others); err != nil {
		return fmt.Errorf("count enabled users: %w", err)
	}
	if others == 0 {
		return linkd.LastEnabledUser(what)
	}
	return nil
}

// SetUserDisabled implements linkd.UserStore.
func (s *Store) SetUserDisabled(ctx context.Context, orgID, id string, at *time.Time, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		disabled, err := lockUser(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if at != nil {
			if err := keepOneEnabled(ctx, tx, orgID, id, disabled, "disabling"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE user_id = $1`, id); err != nil {
				return fmt.Errorf("delete sessions: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = $1 WHERE org_id = $2 AND id = $3`, at, orgID, id); err != nil {
			return fmt.Errorf("set user disabled: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// SetUserPassword implements linkd.UserStore.
func (s *Store) SetUserPassword(ctx context.Context, orgID, id, passwordHash string, ev *linkd.AuditEntry) error {
	if !isID(orgID) || !isID(id) {
		return noUser(id)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE org_id = $2 AND id = $3`, passwordHash, orgID, id)
		if err != nil {
			return fmt.Errorf("set user password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return noUser(id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE user_id = $1`, id); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// DeleteUserSessions implements linkd.UserStore.
func (s *Store) DeleteUserSessions(ctx context.Context, orgID, id string, ev *linkd.AuditEntry) (int, error) {
	if !isID(orgID) || !isID(id) {
		return 0, noUser(id)
	}
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)`, orgID, id).Scan(&exists); err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		if !exists {
			return noUser(id)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM dashboard_sessions WHERE user_id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		n = tag.RowsAffected()
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
	return int(n), err
}

// DeleteUser implements linkd.UserStore.
func (s *Store) DeleteUser(ctx context.Context, orgID, id string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		disabled, err := lockUser(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if err := keepOneEnabled(ctx, tx, orgID, id, disabled, "deleting"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE org_id = $1 AND id = $2`, orgID, id); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return insertAudit(ctx, tx, userTenant(orgID), ev)
	})
}

// UpdateLoginThrottles implements linkd.UserStore. The keys' rows are
// created when missing and then locked (in sorted order, so that two
// sign-ins never wait on each other crosswise) for the transaction, so a
// parallel sign-in on any instance waits and then sees this one's count.
func (s *Store) UpdateLoginThrottles(ctx context.Context, keys []string, prune time.Time, fn func([]linkd.LoginThrottle) ([]linkd.LoginThrottle, error)) error {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttles WHERE last_at < $1`, prune); err != nil {
			return fmt.Errorf("prune login throttles: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_throttles (key, attempts, first_at, last_at)
			SELECT k, 0, '-infinity', '-infinity' FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING`, sorted); err != nil {
			return fmt.Errorf("create login throttles: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT key, attempts, first_at, last_at FROM login_throttles WHERE key = ANY($1) ORDER BY key FOR UPDATE`, sorted)
		if err != nil {
			return fmt.Errorf("lock login throttles: %w", err)
		}
		byKey := map[string]linkd.LoginThrottle{}
		var k string
		var t linkd.LoginThrottle
		var first, last pgtype.Timestamptz
		_, err = pgx.ForEachRow(rows, []any{&k, &t.Attempts, &first, &last}, func() error {
			if t.Attempts > 0 {
				t.First, t.Last = first.Time, last.Time
				byKey[k] = t
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("lock login throttles: %w", err)
		}
		cur := make([]linkd.LoginThrottle, len(keys))
		for i, k := range keys {
			cur[i] = byKey[k]
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if t := next[i]; t.Attempts <= 0 {
				_, err = tx.Exec(ctx, `DELETE FROM login_throttles WHERE key = $1`, k)
			} else {
				_, err = tx.Exec(ctx, `UPDATE login_throttles SET attempts = $2, first_at = $3, last_at = $4 WHERE key = $1`, k, t.Attempts, t.First, t.Last)
			}
			if err != nil {
				return fmt.Errorf("write login throttle: %w", err)
			}
		}
		return nil
	})
}
