package linkd

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// DataKeyKind names the rows of one kind that hold a wrapped data key (the
// envelope of their secrets): what key rotation visits.
type DataKeyKind string

// The kinds of rows with a data key. A table that gains a data_key column
// needs a kind here, in both engines' DataKeys and ReplaceDataKeys, and in
// WrappedDataKey.Owner; each engine's test fails on a data_key column that
// no kind covers.
const (
	DataKeyAccount     DataKeyKind = "account"
	DataKeyRevocation  DataKeyKind = "revocation"
	DataKeyAppSettings DataKeyKind = "app_settings"
	DataKeyWebhook     DataKeyKind = "webhook"
	DataKeyIdempotency DataKeyKind = "idempotency"
)

// DataKeyKinds are every kind, in the order rotation visits them.
var DataKeyKinds = []DataKeyKind{DataKeyAccount, DataKeyRevocation, DataKeyAppSettings, DataKeyWebhook, DataKeyIdempotency}

// WrappedDataKey is one row's wrapped data key and what names the row.
type WrappedDataKey struct {
	Kind DataKeyKind
	// ID is the row's id within its tenant: the account's internal id, the
	// revocation's or webhook's id, or the app's slug. Idempotency records
	// are named by Scope instead.
	ID    string
	Scope IdempotencyScope
	Key   []byte
}

// Ref is the values that name the row within its tenant, in its kind's
// order (the ID, or the idempotency scope's caller, method, path and key):
// what stores page by and update on. ScanRef is where a store reads them
// and then the key.
func (k *WrappedDataKey) Ref() []any {
	if k.Kind == DataKeyIdempotency {
		return []any{k.Scope.Caller, k.Scope.Method, k.Scope.Path, k.Scope.Key}
	}
	return []any{k.ID}
}

// ScanRef returns pointers to Ref's fields and then to Key.
func (k *WrappedDataKey) ScanRef() []any {
	if k.Kind == DataKeyIdempotency {
		return []any{&k.Scope.Caller, &k.Scope.Method, &k.Scope.Path, &k.Scope.Key, &k.Key}
	}
	return []any{&k.ID, &k.Key}
}

// Owner is the owner the data key was wrapped for (Keyring.NewDataKey):
// the keyring needs it to open the key again.
func (k WrappedDataKey) Owner(t Tenant) string {
	switch k.Kind {
	case DataKeyAccount:
		return KeyOwner(t, k.ID)
	case DataKeyRevocation:
		return "revocation/" + k.ID
	case DataKeyAppSettings:
		return AppSettingsOwner(t, k.ID)
	case DataKeyWebhook:
		return WebhookOwner(t, k.ID)
	case DataKeyIdempotency:
		return k.Scope.owner(t)
	}
	panic("linkd: unknown data key kind " + string(k.Kind))
}

// DataKeyChange replaces one row's wrapped data key: Old is what the row
// must still hold, New what it gets.
type DataKeyChange struct {
	WrappedDataKey
	New []byte
}

// DataKeyStore lets key rotation read and re-wrap every stored data key.
type DataKeyStore interface {
	// DataKeys returns at most limit rows of kind in tenant t that hold a
	// data key, in a fixed order, starting after the row after names (nil:
	// from the first).
	DataKeys(ctx context.Context, t Tenant, kind DataKeyKind, after *WrappedDataKey, limit int) ([]WrappedDataKey, error)
	// ReplaceDataKeys sets each row's data key to its New in one
	// transaction, where the row still holds the Key it was read with, and
	// returns how many it replaced: a row deleted or given another key
	// since keeps what it has.
	ReplaceDataKeys(ctx context.Context, t Tenant, changes []DataKeyChange) (int, error)
}

// Rewrapper re-wraps data keys under the current master key
// (vault.Keyring.Rewrap).
type Rewrapper interface {
	// Rewrap returns wrapped re-wrapped by the current master key, and
	// whether that changed it (false: it was wrapped by it already).
	Rewrap(wrapped []byte, owner string) (out []byte, changed bool, err error)
	// KeyID names the current master key.
	KeyID() string
}

// Settings of the master key (Store.EnsureSetting, Store.ReplaceSetting).
const (
	// MasterKeyIDSetting is the id of the master key that wraps the
	// database's data keys; a server starts only with that key (or, while
	// a rotation to its own key is pending, with that key among its older
	// ones).
	MasterKeyIDSetting = "master_key_id"
	// RetiredKeysSetting lists, comma-separated, the ids of master keys
	// rotated away from: a server refuses one as its current key.
	RetiredKeysSetting = "retired_master_key_ids"
)

// RetiredKeyIDs parses RetiredKeysSetting's value.
func RetiredKeyIDs(setting string) []string {
	if setting == "" {
		return nil
	}
	return strings.Split(setting, ",")
}

// KeyRotation re-wraps every data key under a new master key while servers
// go on serving: each row's new wrapping is written only where the row still
// holds the one read (so no concurrent change is lost), batch by batch in
// transactions of their own, so a rotation killed midway is resumed by
// running it again. Rows a server writes meanwhile with the old key are
// caught by the next pass; rotation ends with a pass that finds none.
type KeyRotation struct {
	store interface {
		DataKeyStore
		OrgStore
		EnsureSetting(ctx context.Context, name, value string) (string, error)
		ReplaceSetting(ctx context.Context, name, old, value string) (string, error)
	}
	keys Rewrapper
	// Batch is how many rows one transaction re-wraps (default 500).
	Batch int
	// Progress, when set, hears of every batch written.
	Progress func(t Tenant, kind DataKeyKind, rewrapped int)
}

// NewKeyRotation returns a rotation of store's data keys to keys' current
// master key.
func NewKeyRotation(store Store, keys Rewrapper) *KeyRotation {
	return &KeyRotation{store: store, keys: keys, Batch: 500}
}

// RotationResult is what a rotation did.
type RotationResult struct {
	// From is the master key id the database was on (the new one itself
	// when a rotation is being finished again).
	From, To string
	// Rewrapped counts the data keys re-wrapped, Scanned those read.
	Rewrapped, Scanned int
	// Passes counts the passes over every row, the last of which found
	// nothing left to re-wrap.
	Passes int
}

// Rotate re-wraps every data key and then records the new master key as the
// database's and the old one as retired.
func (r *KeyRotation) Rotate(ctx context.Context) (RotationResult, error) {
	res := RotationResult{To: r.keys.KeyID()}
	from, err := r.store.EnsureSetting(ctx, MasterKeyIDSetting, res.To)
	if err != nil {
		return res, err
	}
	res.From = from
	orgs, err := r.store.Orgs(ctx)
	if err != nil {
		return res, err
	}
	for {
		res.Passes++
		needed := 0
		for _, o := range orgs {
			for _, env := range []Environment{EnvTest, EnvProduction} {
				t := Tenant{OrgID: o.ID, Env: env}
				for _, kind := range DataKeyKinds {
					n, changed, scanned, err := r.rotateKind(ctx, t, kind)
					needed += n
					res.Rewrapped += changed
					res.Scanned += scanned
					if err != nil {
						return res, fmt.Errorf("%s %s %s: %w", o.Name, env, kind, err)
					}
				}
			}
		}
		// A row that changed under a batch is read again by the next pass.
		if needed == 0 {
			break
		}
		// Organizations made while the pass ran are visited by the next.
		if orgs, err = r.store.Orgs(ctx); err != nil {
			return res, err
		}
	}
	if from == res.To {
		return res, nil
	}
	if stored, err := r.store.ReplaceSetting(ctx, MasterKeyIDSetting, from, res.To); err != nil {
		return res, err
	} else if stored != res.To {
		return res, fmt.Errorf("the database's master key changed to %s during the rotation", stored)
	}
	for {
		old, err := r.store.EnsureSetting(ctx, RetiredKeysSetting, "")
		if err != nil {
			return res, err
		}
		ids := RetiredKeyIDs(old)
		if slices.Contains(ids, from) {
			return res, nil
		}
		stored, err := r.store.ReplaceSetting(ctx, RetiredKeysSetting, old, strings.Join(append(ids, from), ","))
		if err != nil || stored != old {
			return res, err
		}
	}
}

// rotateKind re-wraps the data keys of one kind in one tenant: needed
// counts those found on another master key, changed those replaced.
func (r *KeyRotation) rotateKind(ctx context.Context, t Tenant, kind DataKeyKind) (needed, changed, scanned int, err error) {
	var after *WrappedDataKey
	for {
		keys, err := r.store.DataKeys(ctx, t, kind, after, r.Batch)
		if err != nil {
			return needed, changed, scanned, err
		}
		scanned += len(keys)
		var changes []DataKeyChange
		for _, k := range keys {
			out, ok, err := r.keys.Rewrap(k.Key, k.Owner(t))
			if err != nil {
				return needed, changed, scanned, fmt.Errorf("re-wrap the data key of %s %s: %w", kind, k.ID, err)
			}
			if ok {
				changes = append(changes, DataKeyChange{WrappedDataKey: k, New: out})
			}
		}
		if len(changes) > 0 {
			n, err := r.store.ReplaceDataKeys(ctx, t, changes)
			if err != nil {
				return needed, changed, scanned, err
			}
			needed += len(changes)
			changed += n
			if r.Progress != nil {
				r.Progress(t, kind, n)
			}
		}
		if len(keys) < r.Batch {
			return needed, changed, scanned, nil
		}
		after = &keys[len(keys)-1]
	}
}
