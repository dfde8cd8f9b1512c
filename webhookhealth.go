package linkd

import (
	"context"
	"time"
)

// WebhookHealthWindow is how many of an endpoint's latest deliveries its
// health is read from: enough to see a streak worth acting on, one small
// query per endpoint.
const WebhookHealthWindow = 50

// WebhookHealth is how an endpoint is doing, read from its latest
// deliveries (the store keeps no counters of its own for it).
type WebhookHealth struct {
	// LastSuccess is when the newest delivery that succeeded did; zero
	// when none of the latest did.
	LastSuccess time.Time
	// LastFailure is when the newest failed attempt was recorded; zero
	// when none of the latest deliveries failed.
	LastFailure time.Time
	// FailureStreak counts the deliveries since the last success that
	// failed or are being retried after a failure.
	FailureStreak int
	// Pending counts the deliveries still to be sent or retried.
	Pending int
	// Deliveries is how many deliveries the figures are read from (at
	// most WebhookHealthWindow).
	Deliveries int
}

// HealthOf reads an endpoint's health from its deliveries, newest first.
func HealthOf(ds []*Delivery) WebhookHealth {
	h := WebhookHealth{Deliveries: len(ds)}
	streak := true
	for _, d := range ds {
		failed := d.State == DeliveryFailed || d.State == DeliveryPending && d.Attempts > 0
		switch {
		case d.State == DeliverySucceeded:
			streak = false
			if d.UpdatedAt.After(h.LastSuccess) {
				h.LastSuccess = d.UpdatedAt
			}
		case failed:
			if streak {
				h.FailureStreak++
			}
			if d.UpdatedAt.After(h.LastFailure) {
				h.LastFailure = d.UpdatedAt
			}
		}
		if d.State == DeliveryPending {
			h.Pending++
		}
	}
	return h
}

// Health returns the health of the endpoint id from its latest
// deliveries; ENOTFOUND when the tenant has no such endpoint.
func (s *WebhookService) Health(ctx context.Context, t Tenant, id string) (WebhookHealth, error) {
	ds, err := s.Deliveries(ctx, t, id, WebhookHealthWindow)
	if err != nil {
		return WebhookHealth{}, err
	}
	return HealthOf(ds), nil
}
