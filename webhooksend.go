package linkd

import (
	"context"
	"time"
)

// DeliveryJob is a claimed delivery with what sending it needs: the event
// and the endpoint as they are now (an endpoint edited after the event was
// made is sent to at its new URL, with its new headers and secret).
type DeliveryJob struct {
	Delivery
	Event   *Event
	Webhook *Webhook
	// FailingSince is when the endpoint's current streak of failed
	// attempts began (zero when its last attempt succeeded), so that an
	// endpoint failing for days can be disabled.
	FailingSince time.Time
}

// DeliveryAttempt is one try of a delivery, kept for the delivery log.
type DeliveryAttempt struct {
	// N counts the delivery's attempts from 1.
	N  int
	At time.Time
	// Status is the endpoint's HTTP status; 0 when it gave no answer
	// (Error says why).
	Status   int
	Duration time.Duration
	// Headers are the response's headers, with values that may hold
	// credentials (cookies, tokens) redacted.
	Headers map[string]string
	// Body is the start of the response body (MaxAttemptBody bytes).
	Body  []byte
	Error string
}

// MaxAttemptBody is how much of an endpoint's answer the delivery log
// keeps: enough to see an error message, not enough to become storage.
const MaxAttemptBody = 4096

// DeliveryStore is what the webhook sender asks of the stores.
type DeliveryStore interface {
	// ClaimDeliveries leases due pending deliveries (next_at at or before
	// c.Now, no live lease, of enabled endpoints, no tenant in c.Skip),
	// oldest due first, each with its event and endpoint.
	ClaimDeliveries(ctx context.Context, c Claim) ([]*DeliveryJob, error)
	// FinishDelivery records attempt, sets the delivery's state (pending
	// with next as its next try, succeeded or failed), counts the attempt
	// and releases the lease, and when disable is not empty disables the
	// endpoint with that reason and fails its other pending deliveries,
	// all in one transaction. ECONFLICT when the delivery is no longer
	// pending at d.Attempts (another instance took it over after the
	// lease ran out and recorded first).
	FinishDelivery(ctx context.Context, d *Delivery, attempt *DeliveryAttempt, state string, next time.Time, disable string) error
	// DeliveryAttempts lists a delivery's attempts, first first.
	DeliveryAttempts(ctx context.Context, t Tenant, webhookID, eventID string) ([]*DeliveryAttempt, error)
	// OldestDueDelivery returns when the longest-waiting pending delivery
	// that is due at now (of any tenant) became due, and false when none
	// is: an operator's measure of how far the senders are behind.
	OldestDueDelivery(ctx context.Context, now time.Time) (time.Time, bool, error)
}
