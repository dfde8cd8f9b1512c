package linkd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hosted connect page limits.
const (
	// ConnectSessionTTL is how long a hosted connect URL works, as in the
	// compatible API.
	ConnectSessionTTL = 3 * 24 * time.Hour
	// MaxConnectPropertiesBytes bounds the JSON object stored with a
	// connect session (colours, name, redirect_url…).
	MaxConnectPropertiesBytes = 16 << 10
	// MaxAllowedOrigins bounds a tenant's list of allowed origins.
	MaxAllowedOrigins = 100
)

// ConnectSession is the credential of a hosted connect URL
// ({PUBLIC_URL}/connect/{token}): whoever has the URL may connect and
// disconnect apps for one linked account until it expires. The token is an
// opaque random secret of which only the SHA-256 is stored. Properties is
// the JSON object the caller gave when it made the URL (colours, a display
// name, redirect_url), kept as given: the compatible API returns it as is.
type ConnectSession struct {
	ID         string
	OrgID      string
	Env        Environment
	AccountPK  string // the account's internal id: a re-created account is another account
	AccountID  string
	ConfigID   string
	Properties json.RawMessage
	ExpiresAt  time.Time
	CreatedAt  time.Time
	// SessionID is the session token that made the link, "" when the
	// dashboard made it: revoking that token ends the link.
	SessionID string
}

// Tenant returns the tenant the session acts in.
func (c *ConnectSession) Tenant() Tenant { return Tenant{OrgID: c.OrgID, Env: c.Env} }

// NewConnectSecret returns a new connect token ("ct_" and 256 random bits)
// and its hash.
func NewConnectSecret() (token string, hash []byte) {
	var b [32]byte
	rand.Read(b[:])
	token = "ct_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashAPIKey(token)
}

// LooksLikeConnectToken reports whether s has the shape of a connect token,
// so that garbage is refused without a database lookup.
func LooksLikeConnectToken(s string) bool {
	return len(s) == 46 && strings.HasPrefix(s, "ct_")
}

// HostedStore keeps connect sessions and each tenant's allowed origins.
type HostedStore interface {
	// CreateConnectSession stores s under the hash of its token for the
	// tenant's account s.AccountID (filling in AccountPK), and deletes that
	// account's expired sessions; ENOTFOUND when there is no such account.
	CreateConnectSession(ctx context.Context, t Tenant, s *ConnectSession, hash []byte) error
	// ConnectSessionByHash finds a session by the hash of its token;
	// ENOTFOUND when unknown, or when its account no longer exists (the
	// sessions go with the account). Expiry is the caller's to check. Not
	// scoped by tenant: it is how the tenant is found.
	ConnectSessionByHash(ctx context.Context, hash []byte) (*ConnectSession, error)
	// LatestConnectSession returns the newest session of the tenant's
	// account that has not expired at now; ENOTFOUND when there is none.
	LatestConnectSession(ctx context.Context, t Tenant, accountID string, now time.Time) (*ConnectSession, error)
	// RevokeConnectSessions deletes every connect session of the tenant's
	// account (a link sent to the wrong person stops working at once) and
	// writes ev, in one transaction; it returns how many went. ENOTFOUND
	// when there is no such account.
	RevokeConnectSessions(ctx context.Context, t Tenant, accountID string, ev *AuditEntry) (int, error)

	// AllowedOrigins returns the tenant's allowed origins, sorted (none is
	// an empty list, not an error).
	AllowedOrigins(ctx context.Context, t Tenant) ([]string, error)
	// PutAllowedOrigins replaces the tenant's allowed origins with origins
	// (normalized, without duplicates) and writes ev, in one transaction.
	PutAllowedOrigins(ctx context.Context, t Tenant, origins []string, ev *AuditEntry) error
}

// NormalizeOrigin checks that s is a web origin, scheme://host[:port] with
// an http or https scheme and nothing after the authority, and returns it
// as browsers send it in the Origin header: lower case, without the
// scheme's default port. field names the input in the error.
func NormalizeOrigin(field, s string) (string, error) {
	bad := func(why string) (string, error) {
		return "", FieldError(field, "%s: %q is not an origin (scheme://host[:port]): %s", field, s, why)
	}
	if len(s) > 255 {
		return bad("longer than 255 bytes")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad("it does not parse as a URL")
	case u.Scheme != "http" && u.Scheme != "https": // Parse lower-cases it
		return bad("the scheme must be http or https")
	case u.Opaque != "" || u.Host == "":
		return bad("it has no host")
	case u.User != nil:
		return bad("it must not hold a user name or password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return bad("it must not have a path, query or fragment")
	}
	scheme := u.Scheme
	host := strings.ToLower(u.Hostname())
	if host == "" { // "http://:80": a port, but no host
		return bad("it has no host")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return bad("the host may hold only a-z, 0-9, '-' and '.' (write internationalized names in punycode)")
		}
	}
	if strings.Contains(host, ":") { // an IPv6 literal
		ip := net.ParseIP(host)
		if ip == nil {
			return bad("the IPv6 address is malformed")
		}
		host = "[" + ip.String() + "]"
	}
	out := scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port must be from 1 to 65535")
		}
		if !(scheme == "http" && n == 80 || scheme == "https" && n == 443) {
			out += ":" + strconv.Itoa(n)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("the port is empty")
	}
	return out, nil
}

// OriginOf returns the origin of an absolute http(s) URL, normalized, or ""
// when it has none.
func OriginOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	o, err := NormalizeOrigin("url", u.Scheme+"://"+u.Host)
	if err != nil {
		return ""
	}
	return o
}

// IsLoopbackOrigin reports whether a normalized origin is on this machine
// (localhost, 127.0.0.1 or [::1], any port): the test environment allows
// these without configuration, so that the browser SDK works out of the box
// on a developer's machine.
func IsLoopbackOrigin(origin string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	host := rest
	if strings.HasPrefix(rest, "[") {
		host, _, _ = strings.Cut(rest, "]")
		host += "]"
	} else if h, _, ok := strings.Cut(rest, ":"); ok {
		host = h
	}
	return host == "localhost" || host == "127.0.0.1" || host == "[::1]"
}

// LoopbackSources are the loopback origins, any port, in CSP source
// syntax: pages a test environment's tenant may serve from its own machine.
var LoopbackSources = []string{"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
	"https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*"}

// OriginAllowed reports whether a browser page at origin may act for the
// tenant (call the API with a session token, frame the hosted page, be
// sent back to after connecting): origin must be linkd's own origin
// (publicOrigin), one of the tenant's allowed origins, or, in the test
// environment only, a loopback origin.
func OriginAllowed(t Tenant, allowed []string, publicOrigin, origin string) bool {
	o, err := NormalizeOrigin("Origin", origin)
	if err != nil {
		return false
	}
	if o == publicOrigin || (t.Env == EnvTest && IsLoopbackOrigin(o)) {
		return true
	}
	for _, a := range allowed {
		if a == o {
			return true
		}
	}
	return false
}

// NormalizeOrigins normalizes a tenant's list of allowed origins: each one
// as NormalizeOrigin does (field(i) names the i-th in errors), duplicates
// dropped, sorted, at most MaxAllowedOrigins. It reports every bad entry,
// so that a form can show them all at once.
func NormalizeOrigins(list []string, field func(i int) string) ([]string, []error) {
	origins := []string{}
	var errs []error
	for i, o := range list {
		n, err := NormalizeOrigin(field(i), o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(origins, n) {
			origins = append(origins, n)
		}
	}
	if len(errs) == 0 && len(origins) > MaxAllowedOrigins {
		errs = append(errs, FieldError("allowed_origins", "There are %d origins; at most %d are allowed.", len(origins), MaxAllowedOrigins))
	}
	slices.Sort(origins)
	return origins, errs
}

// OriginsChange is a change of a tenant's allowed origins: what it adds
// and removes, and the audit entry that records it (origins are not
// secrets, so the entry names them).
type OriginsChange struct {
	Added, Removed []string
}

// ChangeOrigins compares the stored list with the next one.
func ChangeOrigins(before, next []string) OriginsChange {
	c := OriginsChange{Added: []string{}, Removed: []string{}}
	for _, o := range next {
		if !slices.Contains(before, o) {
			c.Added = append(c.Added, o)
		}
	}
	for _, o := range before {
		if !slices.Contains(next, o) {
			c.Removed = append(c.Removed, o)
		}
	}
	return c
}

// Empty reports whether the change changes nothing.
func (c OriginsChange) Empty() bool { return len(c.Added) == 0 && len(c.Removed) == 0 }

// Audit returns the entry that records the change.
func (c OriginsChange) Audit(actor string, now time.Time) *AuditEntry {
	return &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: "org.allowed_origins",
		Fields: []string{"allowed_origins"}, Details: map[string]any{"added": c.Added, "removed": c.Removed}}
}

// AuditConnectLinksRevoke is the audit action of ending an account's hosted
// connect links.
const AuditConnectLinksRevoke = "connect_links.revoke"

// HostedService makes and ends hosted connect links, and keeps the
// origins a tenant's pages may use the browser SDK and the hosted page from.
type HostedService struct {
	store HostedStore
	// PublicURL is where users reach linkd: links are PublicURL +
	// "/connect/" + token.
	PublicURL string
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewHostedService returns the service over store.
func NewHostedService(store HostedStore, publicURL string) *HostedService {
	return &HostedService{store: store, PublicURL: publicURL}
}

// ConnectURL creates a connect session for the tenant's account and returns
// its hosted page's URL. The token is in the URL only: it is stored hashed,
// so this is the one time it can be shown. ENOTFOUND when the account does
// not exist.
func (s *HostedService) ConnectURL(ctx context.Context, t Tenant, accountID, configID string, props json.RawMessage) (string, error) {
	return s.connectURL(ctx, t, accountID, "", configID, props)
}

// SessionConnectURL is ConnectURL for the account of a session token, which
// then owns the link: revoking the token (also on a refresh) ends it, so a
// token revoked because it leaked takes the links made with it along.
func (s *HostedService) SessionConnectURL(ctx context.Context, st *SessionToken, configID string, props json.RawMessage) (string, error) {
	return s.connectURL(ctx, st.Tenant(), st.AccountID, st.ID, configID, props)
}

func (s *HostedService) connectURL(ctx context.Context, t Tenant, accountID, sessionID, configID string, props json.RawMessage) (string, error) {
	if len(props) == 0 {
		props = json.RawMessage("{}")
	}
	now := NowOf(s.Now)
	token, hash := NewConnectSecret()
	cs := &ConnectSession{ID: NewID(), AccountID: accountID, ConfigID: configID, SessionID: sessionID, Properties: props,
		ExpiresAt: now.Add(ConnectSessionTTL), CreatedAt: now}
	if err := s.store.CreateConnectSession(ctx, t, cs, hash); err != nil {
		return "", err
	}
	return s.PublicURL + "/connect/" + token, nil
}

// RevokeConnectLinks ends every hosted connect link of the account (one
// sent to the wrong person) and reports how many were live.
func (s *HostedService) RevokeConnectLinks(ctx context.Context, t Tenant, actor, accountID string) (int, error) {
	if err := ValidateAccountID(accountID); err != nil {
		return 0, err
	}
	ev := &AuditEntry{ID: NewID(), Time: NowOf(s.Now), Actor: actor, Action: AuditConnectLinksRevoke, AccountID: accountID}
	return s.store.RevokeConnectSessions(ctx, t, accountID, ev)
}

// PutAllowedOrigins replaces the tenant's allowed origins with origins,
// normalized (see NormalizeOrigins; field names the i-th input in errors),
// and records what was added and removed. It returns the change, empty
// when nothing changed (then nothing is written).
func (s *HostedService) PutAllowedOrigins(ctx context.Context, t Tenant, actor string, origins []string, field func(i int) string) ([]string, OriginsChange, error) {
	if len(origins) > MaxAllowedOrigins {
		return nil, OriginsChange{}, FieldError("allowed_origins", "allowed_origins has more than %d origins", MaxAllowedOrigins)
	}
	next, errs := NormalizeOrigins(origins, field)
	if len(errs) > 0 {
		return nil, OriginsChange{}, errs[0]
	}
	before, err := s.store.AllowedOrigins(ctx, t)
	if err != nil {
		return nil, OriginsChange{}, err
	}
	change := ChangeOrigins(before, next)
	if change.Empty() {
		return next, change, nil
	}
	if err := s.store.PutAllowedOrigins(ctx, t, next, change.Audit(actor, NowOf(s.Now))); err != nil {
		return nil, OriginsChange{}, err
	}
	return next, change, nil
}
