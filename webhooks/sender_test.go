package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/webhooks"
	"github.com/linkd-dev/linkd/worker"
)

// clock is a test's time, moved by the test instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// request is one delivery as the receiver saw it.
type request struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP endpoint on loopback that answers with answer
// (200 when nil) and keeps every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(n int, w http.ResponseWriter) // n counts requests from 0
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, request{req.Header.Clone(), body})
		answer := r.answer
		r.mu.Unlock()
		if answer != nil {
			answer(n, w)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func (r *receiver) setAnswer(f func(n int, w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

// fixture is a store with an organization, a keyring, an endpoint at a
// loopback receiver, and a test clock.
type fixture struct {
	store  linkd.Store
	keys   linkd.Keyring
	tenant linkd.Tenant
	hook   *linkd.Webhook
	secret string
	recv   *receiver
	clock  *clock
}

func newFixture(t *testing.T, s linkd.Store, mod func(*linkd.Webhook)) *fixture {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	now := linkd.StoreTime(time.Now())
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme-" + linkd.NewID()[24:], CreatedAt: now}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, keys: keys, tenant: linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, recv: newReceiver(t), clock: &clock{t: now}}
	f.hook = f.newHook(t, mod)
	return f
}

// newHook makes an endpoint at the receiver, through the store, with a
// sealed secret, the way the webhook service does.
func (f *fixture) newHook(t *testing.T, mod func(*linkd.Webhook)) *linkd.Webhook {
	t.Helper()
	now := f.clock.Now()
	w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: []string{linkd.EventAccountCreated}, URL: f.recv.URL + "/hook",
		Type: "default", Method: "POST", Headers: map[string]string{"X-Team": "a", "Webhook-Id": "forged"}, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(w)
	}
	f.secret = linkd.NewWebhookSecret()
	if err := linkd.SealWebhookSecret(f.keys, f.tenant, w, f.secret); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateWebhook(t.Context(), f.tenant, w, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

// createAccount creates an account whose audit entry announces its
// creation, made at the test clock's time; it returns the event.
func (f *fixture) createAccount(t *testing.T, id string) *linkd.Event {
	t.Helper()
	now := f.clock.Now()
	ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventAccountCreated, AccountID: id,
		Payload: json.RawMessage(`{"event":"Linked Account Created","linked_account_id":"` + id + `"}`), CreatedAt: now}
	a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: id, Name: id, CreatedAt: now, UpdatedAt: now}
	if err := f.store.CreateAccount(t.Context(), f.tenant, a, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t",
		Action: linkd.AuditAccountCreate, AccountID: id, Events: []*linkd.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (f *fixture) sender(t *testing.T, schedule string, o worker.Options) *webhooks.Sender {
	t.Helper()
	sched, err := webhooks.ParseSchedule(schedule)
	if err != nil {
		t.Fatal(err)
	}
	if o.Clock == nil {
		o.Clock = f.clock.Now
	}
	o.Owner = cmpOr(o.Owner, "instance-1")
	client := outbound.NewClient(outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return webhooks.NewSender(f.store, f.keys, webhooks.Options{Client: client, Schedule: sched}, o)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func drain(t *testing.T, s *webhooks.Sender) int {
	t.Helper()
	n, err := s.Drain(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) delivery(t *testing.T, hook *linkd.Webhook, eventID string) *linkd.Delivery {
	t.Helper()
	ds, err := f.store.Deliveries(t.Context(), f.tenant, hook.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.EventID == eventID {
			return d
		}
	}
	t.Fatalf("no delivery of %s to %s", eventID, hook.ID)
	return nil
}

// TestDeliverySigned: a committed change with an event makes exactly one
// POST, signed so that the Standard Webhooks reference library verifies
// it, with the endpoint's headers but never over linkd's own.
func TestDeliverySigned(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		ev := f.createAccount(t, "o1")
		snd := f.sender(t, webhooks.DefaultSchedule, worker.Options{})
		if n := drain(t, snd); n != 1 {
			t.Fatalf("attempted %d deliveries, want 1", n)
		}
		if n := drain(t, snd); n != 0 {
			t.Fatalf("attempted %d more", n)
		}
		got := f.recv.requests()
		if len(got) != 1 {
			t.Fatalf("the receiver got %d requests, want 1", len(got))
		}
		r := got[0]
		wh, err := standardwebhooks.NewWebhook(f.secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatalf("the reference library refuses the signature: %v (headers %v)", err, r.header)
		}
		if r.header.Get("webhook-id") != ev.ID || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Team") != "a" {
			t.Fatalf("headers: %v", r.header)
		}
		if !jsonEqual(r.body, ev.Payload) {
			t.Fatalf("body %s, want the payload %s", r.body, ev.Payload)
		}
		if d := f.delivery(t, f.hook, ev.ID); d.State != linkd.DeliverySucceeded || d.Attempts != 1 {
			t.Fatalf("delivery %+v", d)
		}
		as, err := s.DeliveryAttempts(t.Context(), f.tenant, f.hook.ID, ev.ID)
		if err != nil || len(as) != 1 || as[0].Status != 200 || as[0].Error != "" || as[0].Duration <= 0 {
			t.Fatalf("attempts %+v, %v", as, err)
		}
	})
}

// TestRetrySchedule: a failed attempt is retried when the schedule says
// (not before), with the same webhook-id; Retry-After is honoured; the
// last failure ends the delivery.
func TestRetrySchedule(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		f.recv.setAnswer(func(n int, w http.ResponseWriter) {
			if n == 0 {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			}
		})
		ev := f.createAccount(t, "o1")
		snd := f.sender(t, "0s,10s,5m", worker.Options{})
		if n := drain(t, snd); n != 1 {
			t.Fatalf("first attempt: %d", n)
		}
		d := f.delivery(t, f.hook, ev.ID)
		if wait := d.NextAt.Sub(f.clock.Now()); d.State != linkd.DeliveryPending || d.Attempts != 1 || wait < 8*time.Second || wait > 12*time.Second {
			t.Fatalf("after a 503: %+v (due in %v, want 10s ±20%%)", d, wait)
		}
		f.clock.Add(7 * time.Second)
		if n := drain(t, snd); n != 0 {
			t.Fatalf("retried %d before the schedule's time", n)
		}
		f.clock.Add(6 * time.Second)
		if n := drain(t, snd); n != 1 {
			t.Fatalf("retry: %d", n)
		}
		got := f.recv.requests()
		if len(got) != 2 || got[0].header.Get("webhook-id") != ev.ID || got[1].header.Get("webhook-id") != ev.ID {
			t.Fatalf("requests: %d, ids %q", len(got), []string{got[0].header.Get("webhook-id"), got[len(got)-1].header.Get("webhook-id")})
		}
		if got[0].header.Get("webhook-timestamp") == got[1].header.Get("webhook-timestamp") {
			t.Fatal("the retry kept the first attempt's timestamp")
		}
		wh, _ := standardwebhooks.NewWebhook(f.secret)
		for i, r := range got {
			if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		if d := f.delivery(t, f.hook, ev.ID); d.State != linkd.DeliverySucceeded || d.Attempts != 2 {
			t.Fatalf("after the retry: %+v", d)
		}
		as, _ := s.DeliveryAttempts(t.Context(), f.tenant, f.hook.ID, ev.ID)
		if len(as) != 2 || as[0].Status != 503 || !strings.Contains(string(as[0].Body), "maintenance") || as[1].Status != 200 {
			t.Fatalf("attempts %+v", as)
		}

		// Retry-After beyond the schedule's step is honoured; every
		// attempt failing ends the delivery as failed.
		f.recv.setAnswer(func(n int, w http.ResponseWriter) {
			w.Header().Set("Retry-After", "120")
			w.Header().Set("Set-Cookie", "session=secret")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		ev2 := f.createAccount(t, "o2")
		drain(t, snd)
		d = f.delivery(t, f.hook, ev2.ID)
		if !d.NextAt.Equal(f.clock.Now().Add(2 * time.Minute)) {
			t.Fatalf("Retry-After 120 gave a retry in %v", d.NextAt.Sub(f.clock.Now()))
		}
		as, _ = s.DeliveryAttempts(t.Context(), f.tenant, f.hook.ID, ev2.ID)
		if len(as) != 1 || as[0].Headers["Set-Cookie"] != "[redacted]" || as[0].Headers["Retry-After"] != "120" {
			t.Fatalf("logged headers %v", as[0].Headers)
		}
		for range 2 {
			f.clock.Add(10 * time.Minute)
			drain(t, snd)
		}
		if d := f.delivery(t, f.hook, ev2.ID); d.State != linkd.DeliveryFailed || d.Attempts != 3 {
			t.Fatalf("after the last attempt: %+v", d)
		}
		f.clock.Add(24 * time.Hour)
		if n := drain(t, snd); n != 0 {
			t.Fatalf("a failed delivery was attempted again: %d", n)
		}
		if w, _ := s.Webhook(t.Context(), f.tenant, f.hook.ID); !w.Enabled {
			t.Fatalf("an endpoint failing for minutes was disabled: %q", w.DisabledReason)
		}
	})
}

// TestGoneDisables: 410 disables the endpoint, with its reason, and
// nothing more is sent to it.
func TestGoneDisables(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		f.recv.setAnswer(func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
		ev := f.createAccount(t, "o1")
		f.createAccount(t, "o2")
		snd := f.sender(t, webhooks.DefaultSchedule, worker.Options{Concurrency: 1})
		drain(t, snd)
		w, err := s.Webhook(t.Context(), f.tenant, f.hook.ID)
		if err != nil || w.Enabled || w.DisabledReason != webhooks.ReasonGone {
			t.Fatalf("after 410: %+v, %v", w, err)
		}
		if n := len(f.recv.requests()); n != 1 {
			t.Fatalf("the receiver got %d requests after a 410, want 1", n)
		}
		if d := f.delivery(t, f.hook, ev.ID); d.State != linkd.DeliveryFailed {
			t.Fatalf("delivery %+v", d)
		}
		f.clock.Add(time.Hour)
		f.createAccount(t, "o3")
		if n := drain(t, snd); n != 0 {
			t.Fatalf("sent %d to a disabled endpoint", n)
		}
	})
}

// TestFailingForDaysDisables: an endpoint whose every attempt failed for
// DisableAfter is disabled, and says since when.
func TestFailingForDaysDisables(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		f.recv.setAnswer(func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
		f.createAccount(t, "o1")
		snd := f.sender(t, "0s,1h,1h,1h", worker.Options{})
		drain(t, snd)
		f.clock.Add(4 * 24 * time.Hour)
		f.createAccount(t, "o2")
		drain(t, snd) // four days of failures: still enabled
		if w, _ := s.Webhook(t.Context(), f.tenant, f.hook.ID); !w.Enabled {
			t.Fatalf("disabled after four days: %q", w.DisabledReason)
		}
		f.clock.Add(24*time.Hour + time.Minute)
		drain(t, snd)
		w, _ := s.Webhook(t.Context(), f.tenant, f.hook.ID)
		if w.Enabled || !strings.HasPrefix(w.DisabledReason, "every delivery failed since ") {
			t.Fatalf("after five days of failures: enabled %v, %q", w.Enabled, w.DisabledReason)
		}
	})
}

// TestTwoInstances: two senders on one database (two instances) send each
// delivery once.
func TestTwoInstances(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		const events = 40
		ids := map[string]bool{}
		for i := range events {
			ids[f.createAccount(t, "o"+string(rune('a'+i%26))+string(rune('a'+i/26))).ID] = true
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, owner := range []string{"instance-1", "instance-2"} {
			snd := f.sender(t, webhooks.DefaultSchedule, worker.Options{Owner: owner, Clock: time.Now, Poll: 5 * time.Millisecond, TenantCap: events})
			wg.Go(func() { snd.Run(ctx) })
		}
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			ds, err := s.Deliveries(t.Context(), f.tenant, f.hook.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			done := 0
			for _, d := range ds {
				if d.State == linkd.DeliverySucceeded {
					done++
				}
			}
			if done == events {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d deliveries succeeded in 30s", done, events)
			}
			<-tick.C
		}
		cancel()
		wg.Wait()
		seen := map[string]int{}
		for _, r := range f.recv.requests() {
			seen[r.header.Get("webhook-id")]++
		}
		if len(seen) != events {
			t.Fatalf("the receiver saw %d events, want %d", len(seen), events)
		}
		for id, n := range seen {
			if n != 1 || !ids[id] {
				t.Fatalf("event %s was received %d times", id, n)
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestRotationOverlap: after a rotation with an overlap, each delivery is
// signed by the new secret and the old one, so receivers still holding
// the old secret keep verifying (the reference library accepts a header
// listing several signatures); once the overlap ends only the new one
// signs. A rotation without overlap retires the old secret at once.
func TestRotationOverlap(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		svc := linkd.NewWebhookService(s, f.keys)
		svc.Now = f.clock.Now
		snd := f.sender(t, webhooks.DefaultSchedule, worker.Options{})
		verifies := func(secret string, r request) bool {
			t.Helper()
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			// The test clock runs ahead of the real one: the timestamp is
			// checked against it below instead.
			return wh.VerifyIgnoringTimestamp(r.body, r.header) == nil
		}
		deliver := func(id string) request {
			t.Helper()
			f.createAccount(t, id)
			if n := drain(t, snd); n != 1 {
				t.Fatalf("attempted %d deliveries, want 1", n)
			}
			got := f.recv.requests()
			r := got[len(got)-1]
			if ts := r.header.Get(webhooks.HeaderTimestamp); ts != strconv.FormatInt(f.clock.Now().Unix(), 10) {
				t.Fatalf("webhook-timestamp %s, want the test clock's %d", ts, f.clock.Now().Unix())
			}
			return r
		}
		old := f.secret
		if _, _, err := svc.RotateSecret(t.Context(), f.tenant, "t", f.hook.ID, linkd.MaxSecretOverlap+time.Second); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("an overlap over the maximum: %v", err)
		}
		fresh, until, err := svc.RotateSecret(t.Context(), f.tenant, "t", f.hook.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !until.Equal(f.clock.Now().Add(time.Hour)) || fresh == old {
			t.Fatalf("rotation: until %v, new secret equal to the old: %v", until, fresh == old)
		}
		r := deliver("during")
		if !verifies(fresh, r) || !verifies(old, r) || len(strings.Fields(r.header.Get(webhooks.HeaderSignature))) != 2 {
			t.Fatalf("during the overlap: new verifies %v, old verifies %v (%q)", verifies(fresh, r), verifies(old, r), r.header.Get(webhooks.HeaderSignature))
		}
		f.clock.Add(time.Hour)
		r = deliver("after")
		if !verifies(fresh, r) || verifies(old, r) {
			t.Fatalf("after the overlap: new verifies %v, old verifies %v", verifies(fresh, r), verifies(old, r))
		}
		newest, _, err := svc.RotateSecret(t.Context(), f.tenant, "t", f.hook.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		r = deliver("at-once")
		if !verifies(newest, r) || verifies(fresh, r) {
			t.Fatalf("rotation without overlap: newest verifies %v, replaced verifies %v", verifies(newest, r), verifies(fresh, r))
		}
	})
}
