package storetest

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testClaimDeliveries: due deliveries of enabled endpoints are leased once,
// with their event and endpoint; a lease that runs out frees them again;
// skipped tenants are left alone.
func testClaimDeliveries(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	off := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, func(w *linkd.Webhook) { w.Enabled = false })
	ev := newEvent(linkd.EventAccountCreated, "o1", "")
	if err := e.createWithEvent(t, e.t, "o1", ev); err != nil {
		t.Fatal(err)
	}
	// The endpoint disabled after the event was made gets no attempt.
	if _, err := e.store.PutWebhook(e.ctx, e.t, off.ID, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		return cur, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(time.Second).Truncate(time.Microsecond)
	claim := func(owner string, at time.Time, skip ...linkd.Tenant) []*linkd.DeliveryJob {
		t.Helper()
		jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: owner, Now: at, Lease: time.Minute, Limit: 10, Skip: skip})
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	if jobs := claim("a", ev.CreatedAt.Add(-time.Second)); len(jobs) != 0 {
		t.Fatalf("claimed %d deliveries before they were due", len(jobs))
	}
	if jobs := claim("a", now, e.t); len(jobs) != 0 {
		t.Fatalf("claimed %d deliveries of a skipped tenant", len(jobs))
	}
	jobs := claim("a", now)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d deliveries, want 1", len(jobs))
	}
	j := jobs[0]
	if j.Tenant != e.t || j.WebhookID != w.ID || j.EventID != ev.ID || j.Attempts != 0 || j.State != linkd.DeliveryPending ||
		j.Event == nil || j.Event.ID != ev.ID || j.Event.Type != ev.Type || !jsonEqual(j.Event.Payload, ev.Payload) ||
		j.Webhook == nil || j.Webhook.URL != w.URL || j.Webhook.Headers["X-Team"] != "a" || !j.FailingSince.IsZero() {
		t.Fatalf("claimed %+v (event %+v, webhook %+v)", j, j.Event, j.Webhook)
	}
	if again := claim("b", now); len(again) != 0 {
		t.Fatalf("a leased delivery was claimed again: %d", len(again))
	}
	// The lease runs out: another instance takes the delivery over.
	later := now.Add(2 * time.Minute)
	if again := claim("b", later); len(again) != 1 {
		t.Fatalf("an expired lease was not claimed again: %d", len(again))
	}

	// A failed attempt: due again at next, the endpoint failing since.
	fail := &linkd.DeliveryAttempt{At: later, Status: 503, Duration: 1500 * time.Microsecond,
		Headers: map[string]string{"Content-Type": "text/plain"}, Body: []byte("busy"), Error: "the endpoint answered 503"}
	next := later.Add(time.Hour)
	if err := e.store.FinishDelivery(e.ctx, &j.Delivery, fail, linkd.DeliveryPending, next, ""); err != nil {
		t.Fatal(err)
	}
	// Recording the same attempt twice (a second instance after a lost
	// lease) is refused.
	if err := e.store.FinishDelivery(e.ctx, &j.Delivery, fail, linkd.DeliveryPending, next, ""); linkd.ErrorCode(err) != linkd.ECONFLICT {
		t.Fatalf("a second record of one attempt: %v", err)
	}
	if again := claim("a", later.Add(time.Minute)); len(again) != 0 {
		t.Fatalf("claimed a delivery before its retry was due: %d", len(again))
	}
	jobs = claim("a", next)
	if len(jobs) != 1 || jobs[0].Attempts != 1 || !jobs[0].NextAt.Equal(next) || !jobs[0].FailingSince.Equal(later) {
		t.Fatalf("the retry: %+v", jobs)
	}
	ok := &linkd.DeliveryAttempt{At: next, Status: 204, Duration: time.Millisecond, Headers: map[string]string{}}
	if err := e.store.FinishDelivery(e.ctx, &jobs[0].Delivery, ok, linkd.DeliverySucceeded, next, ""); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.Deliveries(e.ctx, e.t, w.ID, 10)
	if err != nil || len(ds) != 1 || ds[0].State != linkd.DeliverySucceeded || ds[0].Attempts != 2 {
		t.Fatalf("Deliveries = %+v, %v", ds, err)
	}
	if jobs := claim("a", next.Add(24*time.Hour)); len(jobs) != 0 {
		t.Fatalf("a succeeded delivery was claimed: %d", len(jobs))
	}
	as, err := e.store.DeliveryAttempts(e.ctx, e.t, w.ID, ev.ID)
	if err != nil || len(as) != 2 {
		t.Fatalf("DeliveryAttempts = %v, %v", as, err)
	}
	if a := as[0]; a.N != 1 || !a.At.Equal(later) || a.Status != 503 || a.Duration != fail.Duration || a.Headers["Content-Type"] != "text/plain" ||
		string(a.Body) != "busy" || a.Error != fail.Error {
		t.Fatalf("first attempt = %+v", a)
	}
	if a := as[1]; a.N != 2 || a.Status != 204 || len(a.Body) != 0 || a.Error != "" {
		t.Fatalf("second attempt = %+v", a)
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if as, err := e.store.DeliveryAttempts(e.ctx, other, w.ID, ev.ID); err != nil || len(as) != 0 {
		t.Fatalf("another environment reads the attempts: %v, %v", as, err)
	}
	// The success cleared the failure streak; the next failures start a
	// new one at the first of them, and keep it.
	streak := func(id string, at time.Time, status int) time.Time {
		t.Helper()
		if err := e.createWithEvent(t, e.t, id, newEvent(linkd.EventAccountCreated, id, "")); err != nil {
			t.Fatal(err)
		}
		jobs := claim("a", at)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d deliveries, want 1", len(jobs))
		}
		a := &linkd.DeliveryAttempt{At: at, Status: status, Headers: map[string]string{}}
		state := linkd.DeliveryFailed
		if status/100 == 2 {
			state = linkd.DeliverySucceeded
		}
		if err := e.store.FinishDelivery(e.ctx, &jobs[0].Delivery, a, state, at, ""); err != nil {
			t.Fatal(err)
		}
		return jobs[0].FailingSince
	}
	t1, t2, t3 := next.Add(time.Hour), next.Add(2*time.Hour), next.Add(3*time.Hour)
	if since := streak("o2", t1, 500); !since.IsZero() {
		t.Fatalf("after a success the endpoint is still failing since %v", since)
	}
	if since := streak("o3", t2, 500); !since.Equal(t1) {
		t.Fatalf("failing since %v, want the first failure's %v", since, t1)
	}
	if since := streak("o4", t3, 200); !since.Equal(t1) {
		t.Fatalf("a second failure moved the streak's start to %v, want %v", since, t1)
	}
	if since := streak("o5", t3.Add(time.Hour), 200); !since.IsZero() {
		t.Fatalf("a success did not end the streak: failing since %v", since)
	}
}

// testDisableEndpoint: a delivery's outcome may disable its endpoint, which
// fails the endpoint's other pending deliveries in the same transaction.
func testDisableEndpoint(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	for _, id := range []string{"o1", "o2"} {
		if err := e.createWithEvent(t, e.t, id, newEvent(linkd.EventAccountCreated, id, "")); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Add(time.Second).Truncate(time.Microsecond)
	jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "a", Now: now, Lease: time.Minute, Limit: 1})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d, %v", len(jobs), err)
	}
	gone := &linkd.DeliveryAttempt{At: now, Status: 410}
	if err := e.store.FinishDelivery(e.ctx, &jobs[0].Delivery, gone, linkd.DeliveryFailed, now, "the endpoint answered 410 Gone"); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Webhook(e.ctx, e.t, w.ID)
	if err != nil || got.Enabled || got.DisabledReason != "the endpoint answered 410 Gone" {
		t.Fatalf("after 410: %+v, %v", got, err)
	}
	ds, _ := e.store.Deliveries(e.ctx, e.t, w.ID, 10)
	for _, d := range ds {
		if d.State != linkd.DeliveryFailed {
			t.Fatalf("a delivery of the disabled endpoint: %+v", d)
		}
	}
	if jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "a", Now: now.Add(time.Hour), Lease: time.Minute, Limit: 10}); err != nil || len(jobs) != 0 {
		t.Fatalf("claimed %d deliveries of a disabled endpoint, %v", len(jobs), err)
	}
	if err := e.store.DeleteWebhook(e.ctx, e.t, w.ID, nil); err != nil {
		t.Fatal(err)
	}
	if as, err := e.store.DeliveryAttempts(e.ctx, e.t, w.ID, jobs[0].EventID); err != nil || len(as) != 0 {
		t.Fatalf("attempts of a deleted endpoint: %v, %v", as, err)
	}
}

// testOldestDueDelivery: the age of the senders' backlog is when its
// oldest due delivery became due; deliveries not yet due, or finished,
// do not count.
func testOldestDueDelivery(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, ok, err := e.store.OldestDueDelivery(e.ctx, now); err != nil || ok {
		t.Fatalf("an empty store: due %v, %v", ok, err)
	}
	e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	first := newEvent(linkd.EventAccountCreated, "o1", "")
	first.CreatedAt = now.Add(-time.Minute)
	second := newEvent(linkd.EventAccountCreated, "o2", "")
	for id, ev := range map[string]*linkd.Event{"o1": first, "o2": second} {
		if err := e.createWithEvent(t, e.t, id, ev); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := e.store.OldestDueDelivery(e.ctx, now.Add(-2*time.Minute)); err != nil || ok {
		t.Fatalf("before anything was due: due %v, %v", ok, err)
	}
	at, ok, err := e.store.OldestDueDelivery(e.ctx, now.Add(time.Second))
	if err != nil || !ok || !at.Equal(first.CreatedAt) {
		t.Fatalf("OldestDueDelivery = %v, %v, %v; want %v", at, ok, err, first.CreatedAt)
	}
	jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "a", Now: now.Add(time.Second), Lease: time.Minute, Limit: 1})
	if err != nil || len(jobs) != 1 || jobs[0].EventID != first.ID {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	ok200 := &linkd.DeliveryAttempt{At: now, Status: 200, Headers: map[string]string{}}
	if err := e.store.FinishDelivery(e.ctx, &jobs[0].Delivery, ok200, linkd.DeliverySucceeded, now, ""); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := e.store.OldestDueDelivery(e.ctx, now.Add(time.Second)); err != nil || !ok || !at.Equal(second.CreatedAt) {
		t.Fatalf("after the oldest was delivered: %v, %v, %v; want %v", at, ok, err, second.CreatedAt)
	}
}
