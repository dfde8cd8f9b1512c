package linkd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// IdempotencyTTL is how long a stored response answers retries of a request
// with the same Idempotency-Key.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyLease is how long a request may hold a key before a retry may
// take it over (the first attempt is presumed dead: a crash mid-request).
const IdempotencyLease = time.Minute

// IdempotencyScope says whose an Idempotency-Key is. A key is the caller's
// own, per route: two callers of one tenant (an API key and a session token,
// or the session tokens of two accounts) never see each other's responses,
// and one key sent to two routes names two requests.
type IdempotencyScope struct {
	// Caller is "api_key:<id>" or "account:<internal account id>" (a
	// session token's account: its tokens share the account's keys, so a
	// retry with a refreshed token still finds its answer).
	Caller string
	Method string
	Path   string
	Key    string
}

// owner names the stored response for the keyring: sealing binds the
// ciphertext to it, so a body copied to another record does not open.
func (s IdempotencyScope) owner(t Tenant) string {
	sum := sha256.Sum256([]byte(s.Caller + "\x00" + s.Method + "\x00" + s.Path + "\x00" + s.Key))
	return "idempotency/" + t.OrgID + "/" + string(t.Env) + "/" + hex.EncodeToString(sum[:])
}

// IdempotentResponse is a stored answer to a request.
type IdempotentResponse struct {
	RequestHash string
	Status      int
	// AccountID is the tenant's id of the linked account whose data the
	// response holds, or "": deleting that account deletes the response.
	AccountID string
	// DataKey is the response's own data key, wrapped by the master key;
	// Body is sealed with it. Deleting the row crypto-erases the body.
	DataKey []byte
	Body    []byte
}

// ErrIdempotencyKeyReused is the answer to a key sent again with a request
// that differs from the first one.
func ErrIdempotencyKeyReused() *Error {
	return &Error{Code: EUNPROCESSABLE, Type: "IDEMPOTENCY_KEY_REUSED", Field: "Idempotency-Key",
		Message: "Idempotency-Key was already used with a different request; send a new key for a new request"}
}

// IdempotencyStore remembers responses by Idempotency-Key so a retried write
// returns the first answer instead of acting twice. It lives in the database:
// a retry may land on any instance. Records are scoped by tenant and by
// IdempotencyScope.
type IdempotencyStore interface {
	// ClaimIdempotencyKey reserves the key for a request with the given
	// hash. It returns (nil, nil) when the caller now holds the key and must
	// act, or the stored response of a finished earlier request. It returns
	// ECONFLICT while another request holds the key, and EUNPROCESSABLE
	// (ErrIdempotencyKeyReused) when the key was used with a different
	// request.
	ClaimIdempotencyKey(ctx context.Context, t Tenant, s IdempotencyScope, requestHash string, now time.Time) (*IdempotentResponse, error)
	// CompleteIdempotencyKey stores the response of the request holding the
	// key (its Status, AccountID, DataKey and Body).
	CompleteIdempotencyKey(ctx context.Context, t Tenant, s IdempotencyScope, resp *IdempotentResponse) error
	// ReleaseIdempotencyKey gives up a claim, so a retry can act again (used
	// when the request failed in a way that changed nothing).
	ReleaseIdempotencyKey(ctx context.Context, t Tenant, s IdempotencyScope) error
	// PurgeIdempotencyKeys deletes the records of every tenant that expired
	// before before, and reports how many.
	PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// IdempotencyService keeps stored responses sealed: an answer may hold
// secrets shown once (a session token and its refresh token), and the
// database must not hold them in clear.
type IdempotencyService struct {
	store IdempotencyStore
	keys  Keyring
}

// NewIdempotencyService returns the service over store, sealing stored
// answers with keys.
func NewIdempotencyService(store IdempotencyStore, keys Keyring) *IdempotencyService {
	return &IdempotencyService{store: store, keys: keys}
}

// Purge deletes the records that expired before now: a stored answer is
// sealed, but kept no longer than it can serve a retry.
func (s *IdempotencyService) Purge(ctx context.Context, now time.Time) (int64, error) {
	return s.store.PurgeIdempotencyKeys(ctx, now)
}

// RequestHash is what tells a retry from a new request under the same key:
// the body (method and path are part of the scope already).
func RequestHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Claim reserves the key for a request with body, or returns the stored
// response (Body opened) of the first request with that key.
func (s *IdempotencyService) Claim(ctx context.Context, t Tenant, sc IdempotencyScope, body []byte, now time.Time) (*IdempotentResponse, error) {
	prev, err := s.store.ClaimIdempotencyKey(ctx, t, sc, RequestHash(body), now)
	if err != nil || prev == nil {
		return nil, err
	}
	if len(prev.Body) > 0 {
		if prev.Body, err = s.keys.Open(prev.DataKey, sc.owner(t), "body", prev.Body); err != nil {
			return nil, fmt.Errorf("open stored response: %w", err)
		}
	}
	return prev, nil
}

// Complete stores the response to the request holding the key, sealed
// under a data key of its own. accountID names the linked account whose
// data the response holds ("" for none).
func (s *IdempotencyService) Complete(ctx context.Context, t Tenant, sc IdempotencyScope, accountID string, status int, body []byte) error {
	resp := &IdempotentResponse{Status: status, AccountID: accountID}
	var err error
	if resp.DataKey, err = s.keys.NewDataKey(sc.owner(t)); err != nil {
		return fmt.Errorf("new data key: %w", err)
	}
	if resp.Body, err = s.keys.Seal(resp.DataKey, sc.owner(t), "body", body); err != nil {
		return fmt.Errorf("seal stored response: %w", err)
	}
	return s.store.CompleteIdempotencyKey(ctx, t, sc, resp)
}

// Release gives up a claim, so that a retry acts again.
func (s *IdempotencyService) Release(ctx context.Context, t Tenant, sc IdempotencyScope) error {
	return s.store.ReleaseIdempotencyKey(ctx, t, sc)
}
