package linkd

import (
	"context"
	"sync"
	"time"
)

// Audit actions on dashboard users. Their entries belong to the
// organization, not to one environment: they are stored with an empty
// environment.
const (
	AuditUserCreate        = "dashboard_user.create"
	AuditUserDisable       = "dashboard_user.disable"
	AuditUserEnable        = "dashboard_user.enable"
	AuditUserResetPassword = "dashboard_user.reset_password"
	AuditUserSignOut       = "dashboard_user.sign_out"
	AuditUserDelete        = "dashboard_user.delete"
)

// UserService holds the rules of dashboard users: signing in (hashing
// bounded, attempts throttled in the database; usersignin.go), passwords
// (userpassword.go), sessions, and offboarding. The dashboard and the CLI
// both go through it, and it audits every change to a user.
type UserService struct {
	store UserStore
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// HashSlots bounds how many argon2id hashes run at once (each holds 19
	// MiB); 0 sizes it for the machine.
	HashSlots int
	// HashWait is how long a sign-in waits for a slot; 0 is DefaultHashWait.
	HashWait time.Duration

	slotsOnce sync.Once
	slots     chan struct{}
}

// NewUserService returns the service over store.
func NewUserService(store UserStore) *UserService { return &UserService{store: store} }

func (s *UserService) now() time.Time { return NowOf(s.Now) }

// StartSession signs u in: a new session in the test environment, and the
// secret for its cookie (only the hash is stored).
func (s *UserService) StartSession(ctx context.Context, u *User) (*DashboardSession, string, error) {
	secret, hash := NewSecret("ds_")
	now := s.now()
	ds := &DashboardSession{ID: NewID(), UserID: u.ID, OrgID: u.OrgID, Email: u.Email, Env: EnvTest,
		ExpiresAt: now.Add(DashboardSessionTTL), CreatedAt: now}
	if err := s.store.CreateDashboardSession(ctx, ds, hash); err != nil {
		return nil, "", err
	}
	return ds, secret, nil
}

// Session returns the live session whose cookie holds secret; ENOTFOUND
// when it is unknown, expired, or its user is disabled or deleted. The
// database is asked every time, so a sign-out or a disabled user takes
// effect at once on every instance.
func (s *UserService) Session(ctx context.Context, secret string) (*DashboardSession, error) {
	ds, err := s.store.DashboardSessionByHash(ctx, HashAPIKey(secret))
	if err != nil {
		return nil, err
	}
	if !s.now().Before(ds.ExpiresAt) {
		return nil, Errorf(ENOTFOUND, "the session has expired")
	}
	return ds, nil
}

// SignOut ends one session (the browser's own sign-out).
func (s *UserService) SignOut(ctx context.Context, sessionID string) error {
	return s.store.DeleteDashboardSession(ctx, sessionID)
}

// SwitchEnv makes a dashboard session look at env.
func (s *UserService) SwitchEnv(ctx context.Context, sessionID string, env Environment) error {
	if _, err := ParseEnvironment(string(env)); err != nil {
		return err
	}
	return s.store.SetDashboardSessionEnv(ctx, sessionID, env)
}

// IssueSetupCode makes a one-time setup code for the organization (valid
// SetupCodeTTL), with which its first user is created at /setup; the code
// is returned, only its hash is stored.
func (s *UserService) IssueSetupCode(ctx context.Context, orgID string) (string, error) {
	code, hash := NewSecret("setup-")
	if err := s.store.AddSetupCode(ctx, orgID, hash, s.now().Add(SetupCodeTTL)); err != nil {
		return "", err
	}
	return code, nil
}

// Setup creates the first user of the organization whose setup code this
// is, and signs it in.
func (s *UserService) Setup(ctx context.Context, code, email, password string) (*User, error) {
	if code == "" {
		return nil, FieldError("code", "Enter the setup code from the server's log.")
	}
	u, hash, err := s.newUser(ctx, "", email, password)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateFirstUser(ctx, HashAPIKey(code), s.now(), u, hash); err != nil {
		return nil, err
	}
	return u, nil
}

// newUser checks a new user's email and password and hashes the password.
func (s *UserService) newUser(ctx context.Context, orgID, email, password string) (*User, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, "", err
	}
	if err := ValidatePassword(password); err != nil {
		return nil, "", err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, "", err
	}
	return &User{ID: NewID(), OrgID: orgID, Email: email, CreatedAt: s.now()}, hash, nil
}

// CreateUser adds a user to the organization.
func (s *UserService) CreateUser(ctx context.Context, orgID, email, password, actor string) (*User, error) {
	u, hash, err := s.newUser(ctx, orgID, email, password)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateUser(ctx, u, hash, s.audit(u, AuditUserCreate, actor)); err != nil {
		return nil, err
	}
	return u, nil
}

// ListUsers returns the organization's users by email.
func (s *UserService) ListUsers(ctx context.Context, orgID string) ([]*User, error) {
	return s.store.ListUsers(ctx, orgID)
}

// target finds the user an administrative action is about, and refuses an
// action a user may not take on itself (actor "user:ID" is a signed-in
// user; the CLI is "cli").
func (s *UserService) target(ctx context.Context, orgID, id, actor, what string, notSelf bool) (*User, error) {
	u, err := s.store.UserByID(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if notSelf && actor == "user:"+u.ID {
		return nil, Errorf(EFORBIDDEN, "You cannot %s yourself; ask another user of your organization.", what)
	}
	return u, nil
}

func (s *UserService) audit(u *User, action, actor string) *AuditEntry {
	return &AuditEntry{ID: NewID(), Time: s.now(), Actor: actor, Action: action,
		Details: map[string]any{"user_id": u.ID, "email": u.Email}}
}

// Disable offboards a user: it can no longer sign in, and every session it
// has ends at once, on every instance. A user cannot disable itself, and
// the organization's last enabled user cannot be disabled.
func (s *UserService) Disable(ctx context.Context, orgID, id, actor string) (*User, error) {
	u, err := s.target(ctx, orgID, id, actor, "disable", true)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.store.SetUserDisabled(ctx, orgID, u.ID, &now, s.audit(u, AuditUserDisable, actor)); err != nil {
		return nil, err
	}
	u.DisabledAt = &now
	return u, nil
}

// Enable lets a disabled user sign in again.
func (s *UserService) Enable(ctx context.Context, orgID, id, actor string) (*User, error) {
	u, err := s.target(ctx, orgID, id, actor, "enable", false)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetUserDisabled(ctx, orgID, u.ID, nil, s.audit(u, AuditUserEnable, actor)); err != nil {
		return nil, err
	}
	u.DisabledAt = nil
	return u, nil
}

// ResetPassword sets a new password (checked by ValidatePassword) and ends
// every session of the user.
func (s *UserService) ResetPassword(ctx context.Context, orgID, id, password, actor string) (*User, error) {
	u, err := s.target(ctx, orgID, id, actor, "reset the password of", false)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetUserPassword(ctx, orgID, u.ID, hash, s.audit(u, AuditUserResetPassword, actor)); err != nil {
		return nil, err
	}
	return u, nil
}

// SignOutEverywhere ends every session of the user (a lost laptop) and
// returns how many there were.
func (s *UserService) SignOutEverywhere(ctx context.Context, orgID, id, actor string) (*User, int, error) {
	u, err := s.target(ctx, orgID, id, actor, "sign out", false)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.store.DeleteUserSessions(ctx, orgID, u.ID, s.audit(u, AuditUserSignOut, actor))
	return u, n, err
}

// Delete removes a user and its sessions. A user cannot delete itself, and
// the organization's last enabled user cannot be deleted.
func (s *UserService) Delete(ctx context.Context, orgID, id, actor string) (*User, error) {
	u, err := s.target(ctx, orgID, id, actor, "delete", true)
	if err != nil {
		return nil, err
	}
	return u, s.store.DeleteUser(ctx, orgID, u.ID, s.audit(u, AuditUserDelete, actor))
}

// UserByEmail finds a user of any organization by email (unique across the
// install), for the CLI.
func (s *UserService) UserByEmail(ctx context.Context, email string) (*User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, _, err := s.store.UserByEmail(ctx, email)
	return u, err
}
