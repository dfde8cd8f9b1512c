package storetest

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testAccountDeliveries: an account's events are listed with their
// deliveries to each endpoint, newest first, from since on, within the
// limit, and never another account's, tenant's or environment's.
func testAccountDeliveries(t *testing.T, e *env) {
	w1 := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}, nil)
	w2 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	e.webhook(t, prod, []string{linkd.EventAccountCreated}, nil)
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)

	evs := e.logEvents(t, base) // o1 created, o2 created, o3 updated, o4 created
	// Two more events about o1: updated (w1 only), then created again.
	more := []*linkd.Event{newEvent(linkd.EventAccountUpdated, "o1", ""), newEvent(linkd.EventAccountCreated, "o1", "")}
	for i, ev := range more {
		ev.ID = linkd.NewEventID()
		ev.CreatedAt = base.Add(time.Duration(10+i) * time.Minute)
		if err := e.store.AppendAudit(e.ctx, e.t, &linkd.AuditEntry{ID: linkd.NewID(), Time: ev.CreatedAt, Actor: "t", Action: "account.update",
			AccountID: "o1", Events: []*linkd.Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	// The same account id in production is another account.
	if err := e.createWithEvent(t, prod, "o1", newEvent(linkd.EventAccountCreated, "o1", "")); err != nil {
		t.Fatal(err)
	}
	e.failDelivery(t, e.t, w1, evs[0], base.Add(time.Minute))

	got, err := e.store.AccountDeliveries(e.ctx, e.t, "o1", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ event, webhook, typ, state string }
	want := []row{{more[1].ID, w1.ID, linkd.EventAccountCreated, linkd.DeliveryPending}, {more[1].ID, w2.ID, linkd.EventAccountCreated, linkd.DeliveryPending},
		{more[0].ID, w1.ID, linkd.EventAccountUpdated, linkd.DeliveryPending},
		{evs[0].ID, w1.ID, linkd.EventAccountCreated, linkd.DeliveryFailed}, {evs[0].ID, w2.ID, linkd.EventAccountCreated, linkd.DeliveryPending}}
	if w2.ID < w1.ID { // same event: by endpoint id
		want[0], want[1] = want[1], want[0]
		want[3], want[4] = want[4], want[3]
	}
	if len(got) != len(want) {
		t.Fatalf("AccountDeliveries = %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		if (row{d.EventID, d.WebhookID, d.EventType, d.State}) != want[i] || d.Tenant != e.t {
			t.Fatalf("row %d = %+v, want %+v", i, d, want[i])
		}
	}
	if got[len(got)-1].State == linkd.DeliveryFailed && got[len(got)-1].Attempts != 1 {
		t.Fatalf("attempts of the failed delivery: %+v", got[len(got)-1])
	}

	// limit counts events, not deliveries; since leaves older ones out.
	if got, err := e.store.AccountDeliveries(e.ctx, e.t, "o1", time.Time{}, 1); err != nil || len(got) != 2 || got[0].EventID != more[1].ID || got[1].EventID != more[1].ID {
		t.Fatalf("limit 1: %+v, %v", got, err)
	}
	if got, err := e.store.AccountDeliveries(e.ctx, e.t, "o1", base.Add(5*time.Minute), 10); err != nil || len(got) != 3 {
		t.Fatalf("since: %+v, %v", got, err)
	}
	if got, err := e.store.AccountDeliveries(e.ctx, prod, "o1", time.Time{}, 10); err != nil || len(got) != 1 || got[0].Tenant != prod {
		t.Fatalf("production's o1: %+v, %v", got, err)
	}
	other := linkd.Tenant{OrgID: linkd.NewID(), Env: linkd.EnvTest}
	for _, c := range []struct {
		tn      linkd.Tenant
		account string
	}{{e.t, "nobody"}, {other, "o1"}, {linkd.Tenant{OrgID: "not-an-id", Env: linkd.EnvTest}, "o1"}} {
		if got, err := e.store.AccountDeliveries(e.ctx, c.tn, c.account, time.Time{}, 10); err != nil || len(got) != 0 {
			t.Fatalf("%+v %q: %+v, %v", c.tn, c.account, got, err)
		}
	}
}
