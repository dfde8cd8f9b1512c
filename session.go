package linkd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// Session token lifetimes. A token acts for one linked account in the
// browser (the JavaScript SDK, the hosted connect page); its refresh token
// lasts longer and only ever gets a new pair.
const (
	DefaultSessionTTL = 24 * time.Hour
	RefreshTTLFactor  = 30 // the refresh token lives 30 times as long
)

// SessionToken is a credential that acts for exactly one linked account.
// It is an opaque random secret stored as a hash, so that any instance can
// check it against the database and a revocation takes effect everywhere at
// once; no signing key exists to leak.
type SessionToken struct {
	ID               string
	OrgID            string
	Env              Environment
	AccountPK        string // the account's internal id: a re-created account is another account
	AccountID        string
	ExpiresAt        time.Time
	RefreshExpiresAt time.Time
	RevokedAt        *time.Time
	CreatedAt        time.Time
}

// Tenant returns the tenant the token acts in.
func (s *SessionToken) Tenant() Tenant { return Tenant{OrgID: s.OrgID, Env: s.Env} }

// NewSessionSecrets returns a token and a refresh token with their hashes.
func NewSessionSecrets() (token, refresh string, tokenHash, refreshHash []byte) {
	mk := func(prefix string) string {
		var b [32]byte
		rand.Read(b[:])
		return prefix + base64.RawURLEncoding.EncodeToString(b[:])
	}
	token, refresh = mk("st_"), mk("sr_")
	return token, refresh, HashAPIKey(token), HashAPIKey(refresh)
}

// LooksLikeSessionToken reports whether s has the shape of a session token
// ("st_…") or, with refresh, of a refresh token ("sr_…").
func LooksLikeSessionToken(s string, refresh bool) bool {
	prefix := "st_"
	if refresh {
		prefix = "sr_"
	}
	return len(s) == 46 && strings.HasPrefix(s, prefix)
}

// SessionStore keeps session tokens.
type SessionStore interface {
	// CreateSessionToken stores a token for the tenant's account accountID
	// (filling in AccountPK); ENOTFOUND when there is no such account.
	CreateSessionToken(ctx context.Context, t Tenant, accountID string, s *SessionToken, hash, refreshHash []byte) error
	// SessionByHash finds a token by the hash of its secret, or with refresh
	// by the hash of its refresh token; ENOTFOUND when unknown, or when its
	// account no longer exists. Expiry and revocation are the caller's to
	// check. Not scoped by tenant: it is how the tenant is found.
	SessionByHash(ctx context.Context, hash []byte, refresh bool) (*SessionToken, error)
	// RevokeSessionToken revokes one token (and its refresh token) and
	// deletes the hosted connect links made with it (ConnectSession.
	// SessionID), in one transaction; it reports whether the token was
	// live. The links go even when the token was revoked already.
	RevokeSessionToken(ctx context.Context, id string, at time.Time) (bool, error)
}
