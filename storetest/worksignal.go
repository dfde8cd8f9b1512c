package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testWorkSignals: a commit that makes deliveries signals the webhooks
// loop before the write returns; a change that makes none does not.
func testWorkSignals(t *testing.T, e *env) {
	var n atomic.Int64
	e.store.OnWork(linkd.WorkWebhooks, func() { n.Add(1) })
	if err := e.createWithEvent(t, e.t, "nobody", newEvent(linkd.EventAccountCreated, "nobody", "")); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("a create no endpoint receives signalled %d times", got)
	}
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventConnectionCreated}, nil)
	steps := []struct {
		what string
		do   func() error
	}{
		{"a create with one event", func() error {
			return e.createWithEvent(t, e.t, "s1", newEvent(linkd.EventAccountCreated, "s1", ""))
		}},
		{"a create with two events", func() error {
			return e.createWithEvent(t, e.t, "s2", newEvent(linkd.EventAccountCreated, "s2", ""), newEvent(linkd.EventConnectionCreated, "s2", "slack"))
		}},
		{"a test delivery", func() error {
			now := time.Now().UTC().Truncate(time.Microsecond)
			return e.store.CreateTestDelivery(e.ctx, e.t, w.ID, newEvent("Test", "", ""),
				&linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.test"})
		}},
	}
	for _, s := range steps {
		before := n.Load()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if n.Load() == before {
			t.Fatalf("%s made a delivery and returned without signalling the webhooks loop", s.what)
		}
	}
}
