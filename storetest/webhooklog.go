package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// logEvents makes four events for w at base, base+1m, …: three Linked
// Account Created and one Linked Account Updated (the third), and returns
// them oldest first.
func (e *env) logEvents(t *testing.T, base time.Time) []*linkd.Event {
	t.Helper()
	var out []*linkd.Event
	for i, typ := range []string{linkd.EventAccountCreated, linkd.EventAccountCreated, linkd.EventAccountUpdated, linkd.EventAccountCreated} {
		ev := newEvent(typ, "o"+string(rune('1'+i)), "")
		ev.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		// The audit entry at the event's time, as services make them (the
		// one-statement create of PostgreSQL times the delivery by it).
		a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: ev.AccountID, Name: ev.AccountID, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}
		if err := e.store.CreateAccount(e.ctx, e.t, a, &linkd.AuditEntry{ID: linkd.NewID(), Time: ev.CreatedAt, Actor: "t",
			Action: linkd.AuditAccountCreate, AccountID: ev.AccountID, Events: []*linkd.Event{ev}}); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// failDelivery claims w's delivery of ev and records a failed last attempt.
func (e *env) failDelivery(t *testing.T, tn linkd.Tenant, w *linkd.Webhook, ev *linkd.Event, at time.Time) {
	t.Helper()
	d, err := e.store.Delivery(e.ctx, tn, w.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := &linkd.DeliveryAttempt{At: at, Status: 500, Error: "the endpoint answered 500"}
	if err := e.store.FinishDelivery(e.ctx, d, a, linkd.DeliveryFailed, at, ""); err != nil {
		t.Fatal(err)
	}
}

func (e *env) auditActions(t *testing.T, tn linkd.Tenant) []string {
	t.Helper()
	entries, _, err := e.store.ListAudit(e.ctx, tn, linkd.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range entries {
		out = append(out, a.Action)
	}
	return out
}

// testDeliveryLog: an endpoint's deliveries page newest first, filtered by
// state and event type, with a total; one delivery reads with its type;
// other tenants and endpoints see none of it.
func testDeliveryLog(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}, nil)
	w2 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	evs := e.logEvents(t, now.Add(-time.Hour))
	e.failDelivery(t, e.t, w, evs[1], now)

	list := func(tn linkd.Tenant, id string, f linkd.DeliveryFilter) *linkd.DeliveryPage {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 10
		}
		p, err := e.store.DeliveryLog(e.ctx, tn, id, f)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ids := func(p *linkd.DeliveryPage) []string {
		var out []string
		for _, d := range p.Deliveries {
			out = append(out, d.EventID)
		}
		return out
	}
	all := list(e.t, w.ID, linkd.DeliveryFilter{})
	want := []string{evs[3].ID, evs[2].ID, evs[1].ID, evs[0].ID}
	if all.Total != 4 || !slices.Equal(ids(all), want) {
		t.Fatalf("DeliveryLog = %v (total %d), want %v", ids(all), all.Total, want)
	}
	if d := all.Deliveries[1]; d.EventType != linkd.EventAccountUpdated || d.State != linkd.DeliveryPending || d.Tenant != e.t || d.WebhookID != w.ID {
		t.Fatalf("a listed delivery: %+v", d)
	}
	if p := list(e.t, w.ID, linkd.DeliveryFilter{Limit: 2, Offset: 2}); p.Total != 4 || !slices.Equal(ids(p), want[2:]) {
		t.Fatalf("page 2 = %v (total %d)", ids(p), p.Total)
	}
	if p := list(e.t, w.ID, linkd.DeliveryFilter{Event: linkd.EventAccountUpdated}); p.Total != 1 || !slices.Equal(ids(p), []string{evs[2].ID}) {
		t.Fatalf("by event = %v (total %d)", ids(p), p.Total)
	}
	if p := list(e.t, w.ID, linkd.DeliveryFilter{State: linkd.DeliveryFailed}); p.Total != 1 || !slices.Equal(ids(p), []string{evs[1].ID}) ||
		p.Deliveries[0].Attempts != 1 {
		t.Fatalf("by state = %+v (total %d)", p.Deliveries, p.Total)
	}
	if p := list(e.t, w.ID, linkd.DeliveryFilter{State: linkd.DeliveryFailed, Event: linkd.EventAccountUpdated}); p.Total != 0 || len(p.Deliveries) != 0 {
		t.Fatalf("by state and event = %v", ids(p))
	}
	if p := list(e.t, w2.ID, linkd.DeliveryFilter{}); p.Total != 3 {
		t.Fatalf("the other endpoint lists %d", p.Total)
	}
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if p := list(prod, w.ID, linkd.DeliveryFilter{}); p.Total != 0 || len(p.Deliveries) != 0 {
		t.Fatalf("another environment lists %v", ids(p))
	}

	d, err := e.store.Delivery(e.ctx, e.t, w.ID, evs[1].ID)
	if err != nil || d.EventType != linkd.EventAccountCreated || d.State != linkd.DeliveryFailed || d.Attempts != 1 {
		t.Fatalf("Delivery = %+v, %v", d, err)
	}
	for _, c := range []struct {
		tn     linkd.Tenant
		hook   string
		event  string
		reason string
	}{{prod, w.ID, evs[1].ID, "another environment"}, {e.t, w.ID, "msg_none", "an unknown event"},
		{e.t, linkd.NewID(), evs[1].ID, "an unknown endpoint"}} {
		if _, err := e.store.Delivery(e.ctx, c.tn, c.hook, c.event); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Errorf("Delivery of %s: %v", c.reason, err)
		}
	}
}

// testRedeliver: a finished delivery is made pending and due now with its
// attempts kept, audited, in one transaction; the sender then claims it.
func testRedeliver(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	evs := e.logEvents(t, now.Add(-time.Hour))
	e.failDelivery(t, e.t, w, evs[0], now)
	later := now.Add(time.Minute)
	audit := &linkd.AuditEntry{ID: linkd.NewID(), Time: later, Actor: "t", Action: linkd.AuditWebhookRedeliver,
		Details: map[string]any{"webhook_id": w.ID, "event_id": evs[0].ID}}
	d, err := e.store.Redeliver(e.ctx, e.t, w.ID, evs[0].ID, later, audit)
	if err != nil || d.State != linkd.DeliveryPending || !d.NextAt.Equal(later) || d.Attempts != 1 || d.EventType != linkd.EventAccountCreated {
		t.Fatalf("Redeliver = %+v, %v", d, err)
	}
	if !slices.Contains(e.auditActions(t, e.t), linkd.AuditWebhookRedeliver) {
		t.Fatalf("no audit entry: %v", e.auditActions(t, e.t))
	}
	// All four deliveries are due now; a claim of 10 takes them all.
	jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "a", Now: later, Lease: time.Minute, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got *linkd.DeliveryJob
	for _, j := range jobs {
		if j.EventID == evs[0].ID {
			got = j
		}
	}
	if got == nil || got.Attempts != 1 || got.Event.ID != evs[0].ID {
		t.Fatalf("the redelivered delivery was not claimed: %+v", jobs)
	}
	// Recording its attempt counts on from the first.
	if err := e.store.FinishDelivery(e.ctx, &got.Delivery, &linkd.DeliveryAttempt{At: later, Status: 200}, linkd.DeliverySucceeded, later, ""); err != nil {
		t.Fatal(err)
	}
	if as, err := e.store.DeliveryAttempts(e.ctx, e.t, w.ID, evs[0].ID); err != nil || len(as) != 2 || as[1].N != 2 || as[1].Status != 200 {
		t.Fatalf("attempts after a redelivery: %+v, %v", as, err)
	}
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	before := len(e.auditActions(t, prod))
	if _, err := e.store.Redeliver(e.ctx, prod, w.ID, evs[0].ID, later, audit); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment redelivered: %v", err)
	}
	if _, err := e.store.Redeliver(e.ctx, e.t, w.ID, "msg_0", later, audit); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("an unknown delivery: %v", err)
	}
	if n := len(e.auditActions(t, prod)); n != before {
		t.Fatalf("a refused redelivery was audited")
	}
}

// testTestDelivery: a test event is kept and delivered to its one endpoint
// only, whatever the endpoints subscribe to.
func testTestDelivery(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventConnectionCreated}, nil)
	other := e.webhook(t, e.t, []string{linkd.EventConnectionCreated}, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventTest, Payload: []byte(`{"event":"Test","webhook_id":"` + w.ID + `"}`), CreatedAt: now}
	audit := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: linkd.AuditWebhookTest, Details: map[string]any{"webhook_id": w.ID}}
	if err := e.store.CreateTestDelivery(e.ctx, e.t, w.ID, ev, audit); err != nil {
		t.Fatal(err)
	}
	d, err := e.store.Delivery(e.ctx, e.t, w.ID, ev.ID)
	if err != nil || d.State != linkd.DeliveryPending || d.Attempts != 0 || !d.NextAt.Equal(now) || d.EventType != linkd.EventTest {
		t.Fatalf("the test delivery: %+v, %v", d, err)
	}
	if p, err := e.store.DeliveryLog(e.ctx, e.t, other.ID, linkd.DeliveryFilter{Limit: 10}); err != nil || p.Total != 0 {
		t.Fatalf("another endpoint got the test event: %+v, %v", p, err)
	}
	got, err := e.store.WebhookEvent(e.ctx, e.t, ev.ID)
	if err != nil || got.Type != linkd.EventTest || !jsonEqual(got.Payload, ev.Payload) {
		t.Fatalf("the test event: %+v, %v", got, err)
	}
	if !slices.Contains(e.auditActions(t, e.t), linkd.AuditWebhookTest) {
		t.Fatal("no audit entry")
	}
	jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "a", Now: now, Lease: time.Minute, Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].EventID != ev.ID || jobs[0].Webhook.ID != w.ID {
		t.Fatalf("claim: %+v, %v", jobs, err)
	}
	// An endpoint of another environment: nothing written at all.
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	ev2 := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventTest, Payload: []byte(`{}`), CreatedAt: now}
	if err := e.store.CreateTestDelivery(e.ctx, prod, w.ID, ev2, audit); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a test event to another environment's endpoint: %v", err)
	}
	if _, err := e.store.WebhookEvent(e.ctx, prod, ev2.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a refused test event was kept: %v", err)
	}
	if len(e.auditActions(t, prod)) != 0 {
		t.Fatal("a refused test event was audited")
	}
}

// testReplayDeliveries: a replay makes due again the endpoint's deliveries
// in one state whose events fall in [since, until), and audits the count.
func testReplayDeliveries(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}, nil)
	w2 := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated}, nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	base := now.Add(-time.Hour)
	evs := e.logEvents(t, base)
	for _, ev := range evs {
		e.failDelivery(t, e.t, w, ev, now)
		e.failDelivery(t, e.t, w2, ev, now)
	}
	// evs[3] succeeds on a second try.
	later := now.Add(time.Minute)
	if _, err := e.store.Redeliver(e.ctx, e.t, w.ID, evs[3].ID, later, nil); err != nil {
		t.Fatal(err)
	}
	d, _ := e.store.Delivery(e.ctx, e.t, w.ID, evs[3].ID)
	if err := e.store.FinishDelivery(e.ctx, d, &linkd.DeliveryAttempt{At: later, Status: 204}, linkd.DeliverySucceeded, later, ""); err != nil {
		t.Fatal(err)
	}
	var counted int
	// [base+1m, base+4m): evs 1, 2 (failed) and 3 (succeeded).
	r := linkd.DeliveryReplay{Since: base.Add(time.Minute), Until: base.Add(4 * time.Minute), State: linkd.DeliveryFailed}
	at := now.Add(2 * time.Minute)
	n, err := e.store.ReplayDeliveries(e.ctx, e.t, w.ID, r, at, func(n int) *linkd.AuditEntry {
		counted = n
		return &linkd.AuditEntry{ID: linkd.NewID(), Time: at, Actor: "t", Action: linkd.AuditWebhookReplay, Details: map[string]any{"deliveries": n}}
	})
	if err != nil || n != 2 || counted != 2 {
		t.Fatalf("ReplayDeliveries = %d (audit %d), %v; want 2", n, counted, err)
	}
	states := func(id string) []string {
		t.Helper()
		var out []string
		for _, ev := range evs {
			d, err := e.store.Delivery(e.ctx, e.t, id, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.State == linkd.DeliveryPending && !d.NextAt.Equal(at) {
				t.Fatalf("a replayed delivery is due at %v, want %v", d.NextAt, at)
			}
			out = append(out, d.State)
		}
		return out
	}
	f, p, s := linkd.DeliveryFailed, linkd.DeliveryPending, linkd.DeliverySucceeded
	if got := states(w.ID); !slices.Equal(got, []string{f, p, p, s}) {
		t.Fatalf("after the replay: %v", got)
	}
	if got := states(w2.ID); !slices.Equal(got, []string{f, f, f, f}) {
		t.Fatalf("the other endpoint after the replay: %v", got)
	}
	if !slices.Contains(e.auditActions(t, e.t), linkd.AuditWebhookReplay) {
		t.Fatal("no audit entry")
	}
	// Succeeded ones, on request.
	r.State = linkd.DeliverySucceeded
	if n, err := e.store.ReplayDeliveries(e.ctx, e.t, w.ID, r, at, func(int) *linkd.AuditEntry { return nil }); err != nil || n != 1 {
		t.Fatalf("replay of succeeded deliveries: %d, %v", n, err)
	}
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	r.State, r.Since = linkd.DeliveryFailed, base.Add(-time.Hour)
	if n, err := e.store.ReplayDeliveries(e.ctx, prod, w.ID, r, at, func(int) *linkd.AuditEntry { return nil }); err != nil || n != 0 {
		t.Fatalf("another environment replayed %d, %v", n, err)
	}
}
