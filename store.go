package linkd

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Store is everything a storage engine provides. The sqlite and postgres
// packages implement it and pass the same contract tests (storetest).
type Store interface {
	OrgStore
	APIKeyStore
	AccountStore
	AuditStore
	IdempotencyStore
	ImportStore
	SessionStore
	ConnectionStore
	ConfigStore
	AppSettingsStore
	OAuthStateStore
	RevocationStore
	RefreshStore
	UserStore
	BulkJobStore
	HostedStore
	TickStore
	WebhookStore
	DeliveryStore
	DeliveryLogStore
	DeliveryRetentionStore
	TenantSettingsStore
	CallLogStore
	WorkSignals
	ExecutionStore
	EventDefStore
	JobBacklogStore
	// EnsureSetting stores value under name unless a value is already
	// there, and returns the stored one. The server uses it to pin the
	// master-key id: starting with another key must fail loudly.
	EnsureSetting(ctx context.Context, name, value string) (stored string, err error)
	// ReplaceSetting stores value under name where the stored value is
	// still old ("" for none), and returns the value stored afterwards:
	// value, or what another process stored meanwhile.
	ReplaceSetting(ctx context.Context, name, old, value string) (stored string, err error)
	// DataKeyStore is not scoped by one tenant in its interface's reason
	// (key rotation visits every tenant), but each call still is.
	DataKeyStore
	// Ping checks that the database answers; /readyz uses it.
	Ping(ctx context.Context) error
	Close() error
}

// Keyring seals secrets with per-account data keys that are themselves
// wrapped by a master key (envelope encryption). owner names the row a data
// key belongs to and field the secret within it; both are bound into the
// ciphertexts, so a sealed value copied to another row or field fails to open.
type Keyring interface {
	// NewDataKey returns a fresh data key for owner, wrapped by the master key.
	NewDataKey(owner string) (wrapped []byte, err error)
	// Seal encrypts plaintext with the data key wrapped in wrapped.
	Seal(wrapped []byte, owner, field string, plaintext []byte) ([]byte, error)
	// Open decrypts what Seal returned.
	Open(wrapped []byte, owner, field string, sealed []byte) ([]byte, error)
	// MAC returns an HMAC-SHA256 of data under a key derived from the master
	// key for purpose: a secret that need not be stored because it can be
	// derived again (an OAuth PKCE verifier from its state).
	MAC(purpose string, data []byte) []byte
}

// NewID returns a new time-ordered id (UUIDv7): ordered ids keep inserts at
// the end of indexes and make keyset paging follow creation order.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// NewIDAt returns a UUIDv7 whose timestamp is t's millisecond. An account's
// id and creation time then agree, so a created_after/created_before filter
// can narrow its scan by the primary key instead of needing its own index.
// The 12 bits after the timestamp hold t's fraction of a millisecond, and
// ids made in this process only ever increase (as uuid.NewV7's do), so that
// accounts created within one millisecond still list in creation order. An
// id may run ahead of t, never behind it.
func NewIDAt(t time.Time) string {
	id := uuid.Must(uuid.NewRandom())
	nano := t.UnixNano()
	ms := nano / 1e6
	stamp := ms<<12 | (nano-ms*1e6)>>8 // < 3907 sub-millisecond steps
	idMu.Lock()
	if stamp <= lastIDStamp {
		stamp = lastIDStamp + 1
	}
	lastIDStamp = stamp
	idMu.Unlock()
	ms, seq := stamp>>12, stamp&0xfff
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	id[6] = 0x70 | byte(seq>>8)
	id[7] = byte(seq)
	return id.String()
}

var (
	idMu        sync.Mutex
	lastIDStamp int64 // the last NewIDAt's millisecond<<12 | sub-millisecond step
)

// IDBound returns the smallest (or, with upper, the largest) UUIDv7 of t's
// millisecond, for range scans by creation time.
func IDBound(t time.Time, upper bool) string {
	var id uuid.UUID
	if upper {
		for i := range id {
			id[i] = 0xff
		}
	}
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}
