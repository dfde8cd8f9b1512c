package linkd

import (
	"context"
	"time"
)

// IdempotencyTTL is how long a stored response answers retries of a request
// with the same Idempotency-Key.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyLease is how long a request may hold a key before a retry may
// take it over (the first attempt is presumed dead: a crash mid-request).
const IdempotencyLease = time.Minute

// IdempotentResponse is a stored answer to a request.
type IdempotentResponse struct {
	RequestHash string
	Status      int
	Body        []byte
}

// IdempotencyStore remembers responses by Idempotency-Key so a retried write
// returns the first answer instead of acting twice. It lives in the database:
// a retry may land on any instance.
type IdempotencyStore interface {
	// ClaimIdempotencyKey reserves key for a request with the given hash. It
	// returns (nil, nil) when the caller now holds the key and must act,
	// or the stored response of a finished earlier request. It returns
	// ECONFLICT while another request holds the key, and EINVALID when the
	// key was used with a different request.
	ClaimIdempotencyKey(ctx context.Context, t Tenant, key, requestHash string, now time.Time) (*IdempotentResponse, error)
	// CompleteIdempotencyKey stores the response of the request holding key.
	CompleteIdempotencyKey(ctx context.Context, t Tenant, key string, status int, body []byte) error
	// ReleaseIdempotencyKey gives up a claim, so a retry can act again (used
	// when the request failed in a way that changed nothing).
	ReleaseIdempotencyKey(ctx context.Context, t Tenant, key string) error
}
