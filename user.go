package linkd

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// User is a person who signs in to the dashboard. Users belong to one
// organization and act in either of its environments; the email is unique
// across the install, so that signing in needs nothing but email and password.
type User struct {
	ID        string
	OrgID     string
	Email     string // lower case
	CreatedAt time.Time
	// DisabledAt is when the user was disabled (offboarded); a disabled
	// user cannot sign in and has no live sessions.
	DisabledAt *time.Time
}

// DashboardSession is a signed-in browser. The cookie holds a random secret
// of which only the SHA-256 is stored, so any instance can check it and a
// logout takes effect everywhere; Env is the environment the user is looking
// at, kept with the session so that every page and instance agrees on it.
type DashboardSession struct {
	ID        string
	UserID    string
	OrgID     string
	Email     string // the user's, filled in by lookups
	Env       Environment
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Tenant returns the tenant the session is looking at.
func (s *DashboardSession) Tenant() Tenant { return Tenant{OrgID: s.OrgID, Env: s.Env} }

// Dashboard session and sign-in limits.
const (
	DashboardSessionTTL = 7 * 24 * time.Hour
	// SetupCodeTTL bounds how long the first-run code printed by serve
	// stays valid.
	SetupCodeTTL   = 24 * time.Hour
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

// NewSecret returns a random URL-safe secret with prefix, and its hash
// (SHA-256, as for API keys): dashboard session cookies and setup codes.
func NewSecret(prefix string) (secret string, hash []byte) {
	var b [32]byte
	rand.Read(b[:])
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashAPIKey(secret)
}

// NormalizeEmail trims and lower-cases an address and checks its form.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", FieldError("email", "Enter an email address.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", FieldError("email", "%q is not an email address.", s)
	}
	return s, nil
}

// argon2id parameters for new hashes (OWASP's recommendation: 19 MiB, two
// passes, one lane). They are written into each hash, so raising them later
// leaves existing hashes checkable.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches hash (from HashPassword),
// comparing in constant time. A malformed hash matches nothing.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// DummyPasswordHash is checked against when an email is unknown, so that a
// failed sign-in takes as long whether or not the user exists.
var DummyPasswordHash = HashPassword("not the password of anyone")

// UserStore keeps dashboard users, their sessions, sign-in throttles and the
// first-run setup codes. All of it lives in the database, so every instance
// sees the same sessions and the same counts. Writes go through
// UserService, which holds the rules.
type UserStore interface {
	// CreateUser inserts u with its password hash; EEXISTS when the email
	// is taken.
	CreateUser(ctx context.Context, u *User, passwordHash string, ev *AuditEntry) error
	// UserByEmail returns a user (disabled ones too) and its password
	// hash; ENOTFOUND.
	UserByEmail(ctx context.Context, email string) (*User, string, error)
	// CountUsers counts an organization's users.
	CountUsers(ctx context.Context, orgID string) (int, error)
	// ListUsers returns an organization's users, disabled ones too, by
	// email.
	ListUsers(ctx context.Context, orgID string) ([]*User, error)
	// UserByID returns one of the organization's users; ENOTFOUND.
	UserByID(ctx context.Context, orgID, id string) (*User, error)
	// SetUserDisabled disables the user (at not nil) and deletes all of its
	// sessions, or enables it (at nil), and writes ev, in one transaction.
	// Disabling the organization's last enabled user is EFORBIDDEN, checked
	// in the transaction, so two administrators disabling each other at
	// once cannot leave the organization without one. ENOTFOUND.
	SetUserDisabled(ctx context.Context, orgID, id string, at *time.Time, ev *AuditEntry) error
	// SetUserPassword replaces the user's password hash and deletes all of
	// its sessions, and writes ev; ENOTFOUND.
	SetUserPassword(ctx context.Context, orgID, id, passwordHash string, ev *AuditEntry) error
	// DeleteUserSessions deletes every session of the user and writes ev;
	// it returns how many there were. ENOTFOUND when there is no such user.
	DeleteUserSessions(ctx context.Context, orgID, id string, ev *AuditEntry) (int, error)
	// DeleteUser deletes the user with its sessions and writes ev; deleting
	// the organization's last enabled user is EFORBIDDEN (as for
	// SetUserDisabled). ENOTFOUND.
	DeleteUser(ctx context.Context, orgID, id string, ev *AuditEntry) error

	// AddSetupCode stores the hash of a first-run code for the organization
	// (several may be live: each instance that starts logs its own).
	AddSetupCode(ctx context.Context, orgID string, hash []byte, expiresAt time.Time) error
	// CreateFirstUser creates u as the first user of the organization whose
	// live setup code has this hash, and deletes its codes, in one
	// transaction. ENOTFOUND when no live code matches, EEXISTS when the
	// organization has a user already. u.OrgID is filled in.
	CreateFirstUser(ctx context.Context, codeHash []byte, now time.Time, u *User, passwordHash string) error

	// CreateDashboardSession stores s under the hash of its cookie secret.
	CreateDashboardSession(ctx context.Context, s *DashboardSession, hash []byte) error
	// DashboardSessionByHash finds a session (with its user's email) by the
	// hash of its secret; ENOTFOUND, also when its user is disabled, so that
	// disabling takes effect on the next request on every instance. Expiry
	// is the caller's to check.
	DashboardSessionByHash(ctx context.Context, hash []byte) (*DashboardSession, error)
	// SetDashboardSessionEnv switches the environment a session looks at.
	SetDashboardSessionEnv(ctx context.Context, id string, env Environment) error
	// DeleteDashboardSession removes a session (logout); absent is no error.
	DeleteDashboardSession(ctx context.Context, id string) error

	// UpdateLoginThrottles reads the throttles of keys (zero for a key
	// that has none), passes them to fn in the order of keys and stores
	// what fn returns (zero Attempts deletes the key), in one transaction
	// that holds the keys against every other sign-in on any instance: two
	// sign-ins cannot both see the same count. When fn returns an error it
	// is returned and nothing is written. Throttles last touched before
	// prune are deleted on the way.
	UpdateLoginThrottles(ctx context.Context, keys []string, prune time.Time, fn func([]LoginThrottle) ([]LoginThrottle, error)) error
}
