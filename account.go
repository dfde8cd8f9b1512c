package linkd

import (
	"context"
	"encoding/json"
	"time"
)

// LinkedAccount is one customer of a linkd tenant: an id from the tenant's own
// data model, a display name and user-defined fields.
type LinkedAccount struct {
	ID        string // internal id, time-ordered (UUIDv7); "_id" on the wire
	AccountID string // the tenant's own id, unique per tenant
	Name      string
	UDF       []UDF // sorted by key
	CreatedAt time.Time
	UpdatedAt time.Time

	// DataKey is the account's data key wrapped by the master key, made when
	// the first secret is stored. Everything secret the account owns is
	// sealed with it, so deleting the row is a crypto-erase of all of it.
	DataKey []byte
	// Credentials is the sealed your_app.auth_credentials object, or nil. It
	// is never rendered; HasCredentials tells whether it exists.
	Credentials []byte
	// ImportJob is the id of the last import job that wrote the account. An
	// import uses it to tell a repeated id within its file (first row wins)
	// from an account that existed before, without keeping ids in memory.
	ImportJob string
	// ConnectedApps counts the apps the account has connected (kept on the
	// row, so lists show it at no cost).
	ConnectedApps int
	// ActiveWorkflows counts the workflows enabled in the account's configs
	// (kept on the row like ConnectedApps).
	ActiveWorkflows int
}

// HasCredentials reports whether the account holds your_app credentials.
func (a *LinkedAccount) HasCredentials() bool { return len(a.Credentials) > 0 }

// UDFValue returns the JSON value of the user-defined field key, or nil.
func (a *LinkedAccount) UDFValue(key string) json.RawMessage {
	for _, u := range a.UDF {
		if u.Key == key {
			return u.Value
		}
	}
	return nil
}

// UDF is one user-defined field. Value is a JSON primitive (string, number or
// boolean) kept as the caller sent it, so types survive a round trip.
type UDF struct {
	ID        string // derived from account and key (UDFID), not stored
	Key       string
	Value     json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AccountFilter selects and pages linked accounts. Zero values mean "no
// constraint"; the store applies defaults for Limit.
type AccountFilter struct {
	Query         string     // case-insensitive substring of account id or name
	CreatedAfter  *time.Time // exclusive
	CreatedBefore *time.Time // exclusive
	UDF           []UDFMatch // all must match
	ConnectedApp  string     // slug of an app the account has connected
	Desc          bool       // newest first; default is creation order

	Limit int
	// Cursor continues after the account whose internal ID it holds (keyset
	// paging, fast at any depth). When empty, Offset is used instead.
	Cursor string
	Offset int
	// SkipTotal avoids counting matches, which is the one part of a filtered
	// list whose cost grows with the tenant's size.
	SkipTotal bool
}

// UDFMatch requires a user-defined field to equal a value. The value matches a
// string field with that text, or a number or boolean with that literal.
type UDFMatch struct {
	Key   string
	Value string
}

// Page limits of account lists.
const (
	DefaultPageLimit = 10
	MaxPageLimit     = 1000
)

// AccountPage is one page of a list.
type AccountPage struct {
	Accounts []*LinkedAccount
	Total    int64 // -1 when the filter asked to skip counting
	HasNext  bool
	// NextCursor continues after the last account of this page; empty at the end.
	NextCursor string
}

// PutFunc receives the current state of an account (nil when it does not exist)
// inside the store's transaction and returns the state to write, with the audit
// entry that records the change. Returning a nil account leaves it unchanged.
type PutFunc func(cur *LinkedAccount) (next *LinkedAccount, ev *AuditEntry, err error)

// AccountStore keeps linked accounts. Every method is scoped to one tenant.
type AccountStore interface {
	// PutAccount reads the account accountID, calls fn and writes its result
	// and audit entry in one transaction. created tells whether the row is new.
	// fn may run more than once when the engine retries a conflict.
	PutAccount(ctx context.Context, t Tenant, accountID string, fn PutFunc) (acct *LinkedAccount, created bool, err error)
	// CreateAccount inserts a new account with its audit entry, or returns
	// EEXISTS (naming linked_account_id) when the tenant has one with that
	// id. It is PutAccount for the one case that needs no read first, which
	// an engine can do in a single statement.
	CreateAccount(ctx context.Context, t Tenant, a *LinkedAccount, ev *AuditEntry) error
	// FindAccount returns ENOTFOUND when the tenant has no such account.
	FindAccount(ctx context.Context, t Tenant, accountID string) (*LinkedAccount, error)
	// ListAccounts returns one page of the tenant's accounts matching f.
	ListAccounts(ctx context.Context, t Tenant, f AccountFilter) (*AccountPage, error)
	// EachAccount calls fn for every account matching f's filters (its paging
	// fields are ignored), in id order, from one consistent read.
	EachAccount(ctx context.Context, t Tenant, f AccountFilter, fn func(*LinkedAccount) error) error
	// DeleteAccount removes the account and everything it owns (connections,
	// session tokens, stored Idempotency-Key answers holding its data),
	// queueing the revocations fn returns for its connections and writing
	// fn's audit entry, in one transaction.
	// ENOTFOUND when absent.
	DeleteAccount(ctx context.Context, t Tenant, accountID string, fn RemoveFunc) error
}
