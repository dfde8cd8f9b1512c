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

// IssuedSession is a new session token pair, shown this once.
type IssuedSession struct {
	Token, RefreshToken string
	TTL, RefreshTTL     time.Duration
	AccountID           string
}

// SessionService mints, refreshes and revokes session tokens: the end
// customer's browser credential for one linked account.
type SessionService struct {
	store SessionStore
	// TTL is how long a token lives (DefaultSessionTTL when zero); its
	// refresh token lives RefreshTTLFactor times as long.
	TTL time.Duration
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewSessionService returns the service over store.
func NewSessionService(store SessionStore, ttl time.Duration) *SessionService {
	return &SessionService{store: store, TTL: ttl}
}

func (s *SessionService) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultSessionTTL
}

// Issue mints a token pair for the tenant's account; ENOTFOUND when there
// is no such account.
func (s *SessionService) Issue(ctx context.Context, t Tenant, accountID string) (*IssuedSession, error) {
	if err := ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	now, ttl := NowOf(s.Now), s.ttl()
	token, refresh, hash, refreshHash := NewSessionSecrets()
	st := &SessionToken{ID: NewID(), ExpiresAt: now.Add(ttl), RefreshExpiresAt: now.Add(ttl * RefreshTTLFactor), CreatedAt: now}
	if err := s.store.CreateSessionToken(ctx, t, accountID, st, hash, refreshHash); err != nil {
		return nil, err
	}
	return &IssuedSession{Token: token, RefreshToken: refresh, TTL: ttl, RefreshTTL: ttl * RefreshTTLFactor, AccountID: accountID}, nil
}

// Refresh trades a refresh token of the tenant for a new pair, revoking the
// old pair: a refresh token is good once, and two concurrent refreshes get
// one pair between them.
func (s *SessionService) Refresh(ctx context.Context, t Tenant, refresh string) (*IssuedSession, error) {
	invalid := &Error{Code: EINVALID, Field: "refresh_token", Type: "INVALID_TOKEN", Message: "Invalid or expired refresh token"}
	if !LooksLikeSessionToken(refresh, true) {
		return nil, invalid
	}
	st, err := s.store.SessionByHash(ctx, HashAPIKey(refresh), true)
	if ErrorCode(err) == ENOTFOUND {
		return nil, invalid
	} else if err != nil {
		return nil, err
	}
	if st.Tenant() != t || st.RevokedAt != nil || !NowOf(s.Now).Before(st.RefreshExpiresAt) {
		return nil, invalid
	}
	live, err := s.store.RevokeSessionToken(ctx, st.ID, NowOf(s.Now))
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, invalid // spent by a concurrent refresh
	}
	return s.Issue(ctx, t, st.AccountID)
}

// Revoke revokes a token and the hosted links made with it; it reports
// whether the token was live.
func (s *SessionService) Revoke(ctx context.Context, st *SessionToken) (bool, error) {
	return s.store.RevokeSessionToken(ctx, st.ID, NowOf(s.Now))
}
