package linkd

import (
	"context"
	"slices"
	"time"
)

// Connection statuses.
const (
	ConnActive  = "active"
	ConnExpired = "expired" // the refresh failed for good: the customer must reconnect
)

// Connection is a linked account's authentication with one app: OAuth
// tokens or the key-based app's fields. An account has at most one
// connection per app and auth type.
type Connection struct {
	ID        string
	AccountPK string
	Slug      string
	AuthType  string
	// Identifier is a non-secret label of the connected identity at the
	// provider (a workspace name, an account id), when one is known.
	Identifier string
	Status     string
	// Credentials are sealed with the account's data key (field
	// ConnectionField(ID)): JSON of ConnectionSecrets. Never returned.
	Credentials []byte
	// TokenExpiresAt is when the OAuth access token expires; nil when it
	// does not, or for key-based connections.
	TokenExpiresAt   *time.Time
	RefreshFailures  int
	LastRefreshAt    *time.Time
	LastRefreshError string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// ConnectionField names a connection's credentials among its account's
// secrets, binding the ciphertext to the connection.
func ConnectionField(id string) string { return "connection/" + id }

// ConnectionSecrets is what Connection.Credentials seal.
type ConnectionSecrets struct {
	AccessToken  string            `json:"access_token,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty"`
	TokenType    string            `json:"token_type,omitempty"`
	Scope        string            `json:"scope,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"` // key-based apps
	// Metadata are the token-response fields the app's catalog entry
	// names (oauth2.metadata). Not secret, but kept here so they share
	// the connection's lifetime and are destroyed with it.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Revocation is a token to revoke at its provider, queued when a connection
// is removed so the removal never waits on (or fails with) the provider. The
// token is sealed under a data key of its own: it outlives the account's.
type Revocation struct {
	ID        string
	OrgID     string
	Env       Environment
	AccountID string
	Slug      string
	Token     []byte // sealed with DataKey, field "revocation"
	DataKey   []byte
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
}

// RemoveFunc decides, inside the store's transaction, what removing the
// connections removed (of the account acct) leaves to do: the revocations to
// queue and the audit entry.
type RemoveFunc func(acct *LinkedAccount, removed []*Connection) ([]*Revocation, *AuditEntry, error)

// ConfigsFunc reads an account's configs of one app inside the
// transaction that calls it.
type ConfigsFunc func() ([]*AppConfig, error)

// ConnectionStore keeps connections.
type ConnectionStore interface {
	// Connections returns the account and its connections, sorted by app;
	// ENOTFOUND when the tenant has no such account.
	Connections(ctx context.Context, t Tenant, accountID string) (*LinkedAccount, []*Connection, error)
	// PutConnection creates or replaces the account's connection for
	// (slug, authType): fn gets the account, the current connection (or
	// nil) and a read of the account's configs of slug in the transaction
	// (the runs a connection starts follow them,
	// ExecutionService.LifecycleRuns; most puts, token refreshes among
	// them, never call it), and returns the next connection, and the
	// account's data key when it made one (the account had none). One
	// transaction.
	PutConnection(ctx context.Context, t Tenant, accountID, slug, authType string,
		fn func(acct *LinkedAccount, cur *Connection, configs ConfigsFunc) (next *Connection, dataKey []byte, ev *AuditEntry, err error)) (*Connection, error)
	// RemoveConnections deletes the account's connections of slug (of one
	// auth type, or all when authType is ""), queues fn's revocations and
	// writes its audit entry, in one transaction. It returns what it removed
	// (nothing is not an error: disconnecting is idempotent).
	RemoveConnections(ctx context.Context, t Tenant, accountID, slug, authType string, fn RemoveFunc) ([]*Connection, error)
	// AppConnection reads what a call to app slug as the account needs, in
	// one round trip where the engine can: the account (ENOTFOUND when the
	// tenant has none), its connections to slug (by auth type), and the
	// tenant's settings of the app (nil when never set).
	AppConnection(ctx context.Context, t Tenant, accountID, slug string) (*LinkedAccount, []*Connection, *AppSettings, error)
}

// OAuthStateTTL is how long a customer has to finish an OAuth consent.
const OAuthStateTTL = 10 * time.Minute

// OAuthState binds an OAuth authorization in progress to its tenant, account
// and app. Only the hash of the state value is stored; the PKCE verifier is
// derived from the state with a key of the server's (Keyring.MAC), so
// nothing secret about the flow is stored at all. It is single-use.
type OAuthState struct {
	Hash      []byte
	OrgID     string
	Env       Environment
	AccountPK string
	AccountID string
	Slug      string
	// ReturnTo is stored sealed with a key derived from the state (the
	// oauth package): the hosted page's holds a live connect-link token.
	ReturnTo  string
	ExpiresAt time.Time
	CreatedAt time.Time
	// BrowserHash is the SHA-256 of a secret given to the browser that
	// started the flow at linkd (a cookie): the callback completes only
	// in a browser that shows it. Nil when linkd never saw that browser
	// (an API caller passed the consent URL on).
	BrowserHash []byte
	// Origin is the web origin of the page that asked for the consent URL
	// ("" when none did): the callback page posts its message there only.
	Origin string
}

// Tenant returns the tenant the state belongs to.
func (s *OAuthState) Tenant() Tenant { return Tenant{OrgID: s.OrgID, Env: s.Env} }

// OAuthStateStore keeps OAuth states, so the callback may land on any
// instance.
type OAuthStateStore interface {
	// CreateOAuthState stores s for the tenant's account s.AccountID,
	// filling in AccountPK; ENOTFOUND when there is no such account.
	CreateOAuthState(ctx context.Context, t Tenant, s *OAuthState) error
	// TakeOAuthState removes and returns the state with that hash; ENOTFOUND
	// when unknown, already used, or expired at now.
	TakeOAuthState(ctx context.Context, hash []byte, now time.Time) (*OAuthState, error)
}

// RevocationStore keeps the revocation queue.
type RevocationStore interface {
	// ClaimRevocations leases up to c.Limit due revocations (next_at ≤ now,
	// not leased by a live runner, of a tenant c does not skip) to c.Owner
	// until c.Until().
	ClaimRevocations(ctx context.Context, c Claim) ([]*Revocation, error)
	// FinishRevocation deletes a revocation (done, or given up) and records
	// the outcome in the audit log, in one transaction.
	FinishRevocation(ctx context.Context, r *Revocation, ev *AuditEntry) error
	// RetryRevocation reschedules a failed attempt for next.
	RetryRevocation(ctx context.Context, r *Revocation, next time.Time) error
}

// RefreshJob names a connection whose access token is due for refresh.
type RefreshJob struct {
	Tenant       Tenant
	AccountID    string
	ConnectionID string
	Slug         string
}

// RefreshStore finds tokens to refresh.
type RefreshStore interface {
	// ClaimRefreshes leases up to c.Limit active OAuth connections whose
	// access token expires before dueBefore, that no live refresher holds,
	// that were not refreshed (or tried) since triedBefore, of tenants c does
	// not skip and of apps (slugs) not in c.SkipGroups, to c.Owner until
	// c.Until(): two instances never refresh one token at once, and
	// neither a failing refresh nor a token that expires sooner than
	// dueBefore is retried in a tight loop. With c.OnlyGroups, only those
	// apps. With c.GroupCap, it leases no more connections of one token
	// endpoint host (c.GroupOf maps slugs to hosts) than the cap leaves
	// room for, counting the live leases of earlier claims by any owner
	// (not LeaseRefresh's: a refresh on demand is not capped), so that
	// the cap holds across instances.
	ClaimRefreshes(ctx context.Context, c Claim, dueBefore, triedBefore time.Time) ([]RefreshJob, error)
	// LeaseRefresh leases the refresh of one active connection to c.Owner
	// until c.Until(), when no live refresher holds it, its token (if it
	// has an expiry) expires before dueBefore, and it was not refreshed
	// since refreshedBefore; it reports whether it did. A request that
	// needs a fresh token takes the same lease as the background refresher,
	// so the two never spend one refresh token twice, and the conditions
	// make a waiter that gets the lease after someone else's refresh find
	// nothing left to do. Writing the connection releases the lease.
	LeaseRefresh(ctx context.Context, t Tenant, connectionID string, c Claim, dueBefore, refreshedBefore time.Time) (bool, error)
}

// ConnectedSlugs returns the apps of conns, each once, sorted: the apps an
// account is connected to.
func ConnectedSlugs(conns []*Connection) []string {
	var out []string
	for _, c := range conns {
		if !slices.Contains(out, c.Slug) {
			out = append(out, c.Slug)
		}
	}
	slices.Sort(out)
	return out
}
