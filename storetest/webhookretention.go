package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// finishDelivery records one attempt of w's delivery of ev, ending in state.
func (e *env) finishDelivery(t *testing.T, tn linkd.Tenant, w *linkd.Webhook, ev *linkd.Event, state string, at time.Time) {
	t.Helper()
	d, err := e.store.Delivery(e.ctx, tn, w.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := &linkd.DeliveryAttempt{At: at, Status: 200, Body: []byte("ok")}
	if state == linkd.DeliveryFailed {
		a.Status = 500
	}
	if err := e.store.FinishDelivery(e.ctx, d, a, state, at, ""); err != nil {
		t.Fatal(err)
	}
}

// wantDelivery checks whether w's delivery of ev is kept, with its
// attempts (attempts -1: it is gone, attempts and all).
func (e *env) wantDelivery(t *testing.T, tn linkd.Tenant, w *linkd.Webhook, ev *linkd.Event, attempts int) {
	t.Helper()
	d, err := e.store.Delivery(e.ctx, tn, w.ID, ev.ID)
	as, aerr := e.store.DeliveryAttempts(e.ctx, tn, w.ID, ev.ID)
	if aerr != nil && linkd.ErrorCode(aerr) != linkd.ENOTFOUND {
		t.Fatal(aerr)
	}
	switch {
	case attempts < 0 && linkd.ErrorCode(err) != linkd.ENOTFOUND:
		t.Errorf("delivery of %s (%s) to %s kept: %v, %v", ev.AccountID, ev.Type, w.ID, d, err)
	case attempts < 0 && len(as) != 0:
		t.Errorf("delivery of %s (%s) to %s: %d attempts kept", ev.AccountID, ev.Type, w.ID, len(as))
	case attempts >= 0 && err != nil:
		t.Errorf("delivery of %s (%s) to %s: %v", ev.AccountID, ev.Type, w.ID, err)
	case attempts >= 0 && len(as) != attempts:
		t.Errorf("delivery of %s (%s) to %s: %d attempts, want %d", ev.AccountID, ev.Type, w.ID, len(as), attempts)
	}
}

// wantEvent checks whether ev (and its payload) is kept.
func (e *env) wantEvent(t *testing.T, tn linkd.Tenant, ev *linkd.Event, kept bool) {
	t.Helper()
	got, err := e.store.WebhookEvent(e.ctx, tn, ev.ID)
	switch {
	case kept && (err != nil || !jsonEqual(got.Payload, ev.Payload)):
		t.Errorf("event %s (%s): %v, %v", ev.AccountID, ev.Type, got, err)
	case !kept && linkd.ErrorCode(err) != linkd.ENOTFOUND:
		t.Errorf("event %s (%s) kept: %v", ev.AccountID, ev.Type, err)
	}
}

// testPurgeDeliveries: the retention purge deletes, in every tenant, the
// deliveries that finished before the bound with their attempts, and the
// events no delivery refers to any more; a pending delivery stays however
// old, and so does its event.
func testPurgeDeliveries(t *testing.T, e *env) {
	events := []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}
	w := e.webhook(t, e.t, events, nil)
	w2 := e.webhook(t, e.t, events, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	old, bound := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	evs := e.logEvents(t, old)
	e.finishDelivery(t, e.t, w, evs[0], linkd.DeliverySucceeded, old)  // purged
	e.finishDelivery(t, e.t, w2, evs[0], linkd.DeliveryFailed, old)    // purged
	e.finishDelivery(t, e.t, w, evs[1], linkd.DeliveryFailed, old)     // purged; w2 pending
	e.finishDelivery(t, e.t, w, evs[2], linkd.DeliverySucceeded, now)  // recent
	e.finishDelivery(t, e.t, w2, evs[2], linkd.DeliverySucceeded, old) // purged
	// evs[3]: pending at both, as old as the others.

	// Another tenant's old finished delivery goes in the same purge.
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvProduction}
	wo := e.webhook(t, other, events, nil)
	evo := newEvent(linkd.EventAccountCreated, "o1", "")
	evo.CreatedAt = old
	if err := e.createWithEvent(t, other, "o1", evo); err != nil {
		t.Fatal(err)
	}
	e.finishDelivery(t, other, wo, evo, linkd.DeliverySucceeded, old)

	n, err := e.store.PurgeDeliveries(e.ctx, bound)
	if err != nil || n != 5 {
		t.Fatalf("purge: %d, %v; want 5 deliveries", n, err)
	}
	e.wantDelivery(t, e.t, w, evs[0], -1)
	e.wantDelivery(t, e.t, w2, evs[0], -1)
	e.wantEvent(t, e.t, evs[0], false)
	e.wantDelivery(t, e.t, w, evs[1], -1)
	e.wantDelivery(t, e.t, w2, evs[1], 0)
	e.wantEvent(t, e.t, evs[1], true)
	e.wantDelivery(t, e.t, w, evs[2], 1)
	e.wantDelivery(t, e.t, w2, evs[2], -1)
	e.wantEvent(t, e.t, evs[2], true)
	e.wantDelivery(t, e.t, w, evs[3], 0)
	e.wantDelivery(t, e.t, w2, evs[3], 0)
	e.wantEvent(t, e.t, evs[3], true)
	e.wantDelivery(t, other, wo, evo, -1)
	e.wantEvent(t, other, evo, false)
	if n, err := e.store.PurgeDeliveries(e.ctx, bound); err != nil || n != 0 {
		t.Fatalf("second purge: %d, %v", n, err)
	}

	// Batches: more finished deliveries than one transaction takes.
	const many = 1100
	ws := []*linkd.Webhook{w, w2}
	for i := range many / 2 {
		ev := newEvent(linkd.EventAccountCreated, fmt.Sprintf("m%04d", i), "")
		ev.CreatedAt = old
		if err := e.createWithEvent(t, e.t, ev.AccountID, ev); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			e.finishDelivery(t, e.t, w, ev, linkd.DeliverySucceeded, old)
		}
	}
	if n, err := e.store.PurgeDeliveries(e.ctx, bound); err != nil || n != many {
		t.Fatalf("purge of many: %d, %v; want %d", n, err, many)
	}
}

// testAccountDeleteEvents: deleting an account deletes its kept events
// whose deliveries have all finished (payload, deliveries, attempts) in
// the same transaction; an event still pending somewhere keeps its
// payload so that it arrives, as does the delete's own event; other
// accounts' events stay.
func testAccountDeleteEvents(t *testing.T, e *env) {
	events := []string{linkd.EventAccountCreated, linkd.EventAccountUpdated, linkd.EventAccountDeleted}
	w := e.webhook(t, e.t, events, nil)
	w2 := e.webhook(t, e.t, events, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	evs := e.logEvents(t, now.Add(-time.Hour)) // accounts o1..o4
	e.finishDelivery(t, e.t, w, evs[0], linkd.DeliverySucceeded, now)
	e.finishDelivery(t, e.t, w2, evs[0], linkd.DeliveryFailed, now)
	e.finishDelivery(t, e.t, w, evs[1], linkd.DeliverySucceeded, now) // w2 still pending
	e.finishDelivery(t, e.t, w, evs[2], linkd.DeliverySucceeded, now)
	e.finishDelivery(t, e.t, w2, evs[2], linkd.DeliverySucceeded, now)
	// The same account id in another tenant is another account.
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	wo := e.webhook(t, other, events, nil)
	evo := newEvent(linkd.EventAccountCreated, "o1", "")
	if err := e.createWithEvent(t, other, "o1", evo); err != nil {
		t.Fatal(err)
	}
	e.finishDelivery(t, other, wo, evo, linkd.DeliverySucceeded, now)

	for _, id := range []string{"o1", "o2"} {
		if err := e.svc.Delete(e.ctx, e.t, "k", id); err != nil {
			t.Fatal(err)
		}
	}
	e.wantDelivery(t, e.t, w, evs[0], -1)
	e.wantDelivery(t, e.t, w2, evs[0], -1)
	e.wantEvent(t, e.t, evs[0], false)
	e.wantDelivery(t, e.t, w, evs[1], 1)
	e.wantDelivery(t, e.t, w2, evs[1], 0)
	e.wantEvent(t, e.t, evs[1], true)
	e.wantDelivery(t, e.t, w, evs[2], 1) // o3 stays
	e.wantEvent(t, e.t, evs[2], true)
	e.wantDelivery(t, other, wo, evo, 1)
	e.wantEvent(t, other, evo, true)
	// Each delete's own event is pending at both endpoints.
	deleted := map[string]int{}
	for _, hook := range []*linkd.Webhook{w, w2} {
		ds, err := e.store.Deliveries(e.ctx, e.t, hook.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			ev, err := e.store.WebhookEvent(e.ctx, e.t, d.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == linkd.EventAccountDeleted && d.State == linkd.DeliveryPending {
				deleted[ev.AccountID]++
			}
		}
	}
	if deleted["o1"] != 2 || deleted["o2"] != 2 {
		t.Fatalf("pending Linked Account Deleted deliveries: %v", deleted)
	}
}
