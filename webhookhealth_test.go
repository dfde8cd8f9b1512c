package linkd_test

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func TestHealthOf(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	d := func(state string, attempts, m int) *linkd.Delivery {
		return &linkd.Delivery{State: state, Attempts: attempts, UpdatedAt: at(m)}
	}
	// Newest first: one not yet tried, two failing, a success, an older failure.
	h := linkd.HealthOf([]*linkd.Delivery{
		d(linkd.DeliveryPending, 0, 9), d(linkd.DeliveryPending, 2, 8), d(linkd.DeliveryFailed, 8, 7),
		d(linkd.DeliverySucceeded, 1, 5), d(linkd.DeliveryFailed, 8, 3),
	})
	want := linkd.WebhookHealth{LastSuccess: at(5), LastFailure: at(8), FailureStreak: 2, Pending: 2, Deliveries: 5}
	if h != want {
		t.Fatalf("HealthOf = %+v, want %+v", h, want)
	}
	if h := linkd.HealthOf(nil); h != (linkd.WebhookHealth{}) {
		t.Fatalf("HealthOf(nil) = %+v", h)
	}
}
