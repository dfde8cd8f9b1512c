package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func (e *env) webhook(t *testing.T, tn linkd.Tenant, events []string, mod func(*linkd.Webhook)) *linkd.Webhook {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: events, URL: "https://hooks.example.com/x", Type: "default",
		Method: "POST", Headers: map[string]string{"X-Team": "a"}, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(w)
	}
	if err := e.store.CreateWebhook(e.ctx, tn, w, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.create"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// createWithEvent creates an account whose audit entry announces ev.
func (e *env) createWithEvent(t *testing.T, tn linkd.Tenant, id string, events ...*linkd.Event) error {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: id, Name: id, CreatedAt: now, UpdatedAt: now}
	return e.store.CreateAccount(e.ctx, tn, a, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t",
		Action: linkd.AuditAccountCreate, AccountID: id, Events: events})
}

func newEvent(typ, account, slug string) *linkd.Event {
	return &linkd.Event{ID: linkd.NewEventID(), Type: typ, AccountID: account, Slug: slug,
		Payload: json.RawMessage(`{"linked_account_id":"` + account + `"}`), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

// testWebhooks: endpoints are kept per tenant and patched in place.
func testWebhooks(t *testing.T, e *env) {
	w := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, func(w *linkd.Webhook) { w.WorkflowIDs = []string{"wf"} })
	got, err := e.store.Webhook(e.ctx, e.t, w.ID)
	if err != nil || got.URL != w.URL || got.Headers["X-Team"] != "a" || len(got.Events) != 1 || got.WorkflowIDs[0] != "wf" || !got.CreatedAt.Equal(w.CreatedAt) {
		t.Fatalf("Webhook = %+v, %v", got, err)
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, err := e.store.Webhook(e.ctx, other, w.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment reads the webhook: %v", err)
	}
	if list, err := e.store.Webhooks(e.ctx, other); err != nil || len(list) != 0 {
		t.Fatalf("another environment lists %d webhooks, %v", len(list), err)
	}
	put, err := e.store.PutWebhook(e.ctx, e.t, w.ID, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		next := *cur
		next.Enabled, next.Description = false, "paused"
		return &next, nil, nil
	})
	if err != nil || put.Enabled || put.Description != "paused" {
		t.Fatalf("PutWebhook = %+v, %v", put, err)
	}
	boom := errors.New("boom")
	if _, err := e.store.PutWebhook(e.ctx, e.t, w.ID, func(*linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) { return nil, nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("PutWebhook with a failing fn: %v", err)
	}
	if list, err := e.store.Webhooks(e.ctx, e.t); err != nil || len(list) != 1 || list[0].Description != "paused" {
		t.Fatalf("Webhooks = %v, %v", list, err)
	}
	if err := e.store.DeleteWebhook(e.ctx, other, w.ID, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment deleted the webhook: %v", err)
	}
	if err := e.store.DeleteWebhook(e.ctx, e.t, w.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Webhook(e.ctx, e.t, w.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

// testWebhookOutbox: an event makes one delivery per endpoint that
// receives it (subscribed, enabled, matching filters, same tenant), in the
// change's transaction; a change that does not commit makes none.
func testWebhookOutbox(t *testing.T, e *env) {
	// A change before the tenant has any endpoint announces to nobody;
	// the endpoint made next gets the changes after it (an engine that
	// remembers "no endpoints" must forget it when one is made).
	if err := e.createWithEvent(t, e.t, "pre", newEvent(linkd.EventAccountCreated, "pre", "")); err != nil {
		t.Fatal(err)
	}
	all := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventConnectionCreated}, nil)
	slack := e.webhook(t, e.t, []string{linkd.EventConnectionCreated}, func(w *linkd.Webhook) { w.Slug = "slack" })
	off := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, func(w *linkd.Webhook) { w.Enabled = false })
	other := e.webhook(t, e.t, []string{linkd.EventAccountDeleted}, nil)
	prod := e.webhook(t, linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, []string{linkd.EventAccountCreated}, nil)
	count := func(w *linkd.Webhook, tn linkd.Tenant) int {
		t.Helper()
		ds, err := e.store.Deliveries(e.ctx, tn, w.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.State != linkd.DeliveryPending || d.Attempts != 0 || d.NextAt.IsZero() {
				t.Fatalf("a new delivery: %+v", d)
			}
		}
		return len(ds)
	}
	created := newEvent(linkd.EventAccountCreated, "o1", "")
	if err := e.createWithEvent(t, e.t, "o1", created); err != nil {
		t.Fatal(err)
	}
	// A create that is refused (the id is taken) announces nothing.
	if err := e.createWithEvent(t, e.t, "o1", newEvent(linkd.EventAccountCreated, "o1", "")); linkd.ErrorCode(err) != linkd.EEXISTS {
		t.Fatalf("duplicate create: %v", err)
	}
	// Two events on one entry (the several-statement path).
	if err := e.createWithEvent(t, e.t, "o2", newEvent(linkd.EventAccountCreated, "o2", ""), newEvent(linkd.EventConnectionCreated, "o2", "slack")); err != nil {
		t.Fatal(err)
	}
	prodT := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	for _, c := range []struct {
		w    *linkd.Webhook
		tn   linkd.Tenant
		want int
	}{{all, e.t, 3}, {slack, e.t, 1}, {off, e.t, 0}, {other, e.t, 0}, {prod, prodT, 0}} {
		if n := count(c.w, c.tn); n != c.want {
			t.Errorf("endpoint %+v: %d deliveries, want %d", c.w.Events, n, c.want)
		}
	}
	ds, _ := e.store.Deliveries(e.ctx, e.t, all.ID, 100)
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.EventID] = true
	}
	if !seen[created.ID] {
		t.Fatalf("the first create's event has no delivery: %+v", ds)
	}
	got, err := e.store.WebhookEvent(e.ctx, e.t, created.ID)
	if err != nil || got.Type != created.Type || got.AccountID != "o1" || string(got.Payload) != string(created.Payload) && !jsonEqual(got.Payload, created.Payload) {
		t.Fatalf("WebhookEvent = %+v, %v", got, err)
	}
	if _, err := e.store.WebhookEvent(e.ctx, prodT, created.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment reads the event: %v", err)
	}
	// A change rolled back by its own rules announces nothing.
	boom := errors.New("boom")
	_, _, err = e.store.PutAccount(e.ctx, e.t, "o3", func(*linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
		return nil, nil, boom
	})
	if !errors.Is(err, boom) || count(all, e.t) != 3 {
		t.Fatalf("a failed put: %v, %d deliveries", err, count(all, e.t))
	}
	// An update announces through PutAccount's entry too.
	_, _, err = e.store.PutAccount(e.ctx, e.t, "o1", func(cur *linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
		next := *cur
		next.Name = "renamed"
		return &next, &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now(), Actor: "t", Action: linkd.AuditAccountUpdate, AccountID: "o1",
			Events: []*linkd.Event{newEvent(linkd.EventConnectionCreated, "o1", "github")}}, nil
	})
	if err != nil || count(all, e.t) != 4 || count(slack, e.t) != 1 {
		t.Fatalf("an update's event: %v, %d, %d", err, count(all, e.t), count(slack, e.t))
	}
	// Deleting an endpoint deletes its deliveries.
	if err := e.store.DeleteWebhook(e.ctx, e.t, all.ID, nil); err != nil || count(all, e.t) != 0 {
		t.Fatalf("after deleting the endpoint: %v", err)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// testWebhooksAtomic: PutWebhooks and DeleteWebhooks change every endpoint
// they name, or none.
func testWebhooksAtomic(t *testing.T, e *env) {
	w1 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	w2 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	w3 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	group := func(g string) func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		return func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
			next := *cur
			next.Group = g
			return &next, nil, nil
		}
	}
	groups := func() string {
		t.Helper()
		var out []string
		for _, w := range []*linkd.Webhook{w1, w2, w3} {
			got, err := e.store.Webhook(e.ctx, e.t, w.ID)
			if err != nil {
				out = append(out, "gone")
				continue
			}
			out = append(out, got.Group)
		}
		return strings.Join(out, ",")
	}
	missing := linkd.NewID()
	if _, err := e.store.PutWebhooks(e.ctx, e.t, []string{w1.ID, w2.ID, missing}, group("g")); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("PutWebhooks with an absent id: %v", err)
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, err := e.store.PutWebhooks(e.ctx, other, []string{w1.ID}, group("g")); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("PutWebhooks of another environment's endpoint: %v", err)
	}
	boom := errors.New("boom")
	if _, err := e.store.PutWebhooks(e.ctx, e.t, []string{w1.ID, w2.ID}, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		if cur.ID == w2.ID {
			return nil, nil, boom
		}
		return group("g")(cur)
	}); !errors.Is(err, boom) {
		t.Fatalf("PutWebhooks whose fn fails: %v", err)
	}
	if g := groups(); g != ",," {
		t.Fatalf("failed PutWebhooks left groups %q", g)
	}
	out, err := e.store.PutWebhooks(e.ctx, e.t, []string{w1.ID, w2.ID}, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		if cur.ID == w1.ID {
			return nil, nil, nil // left as it is
		}
		return group("g")(cur)
	})
	if err != nil || len(out) != 2 || out[0].ID != w1.ID || out[0].Group != "" || out[1].ID != w2.ID || out[1].Group != "g" {
		t.Fatalf("PutWebhooks = %+v, %v", out, err)
	}
	if g := groups(); g != ",g," {
		t.Fatalf("groups %q, want \",g,\"", g)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := func() *linkd.AuditEntry {
		return &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.delete"}
	}
	if err := e.store.DeleteWebhooks(e.ctx, e.t, []string{w1.ID, missing}, []*linkd.AuditEntry{ev(), ev()}); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("DeleteWebhooks with an absent id: %v", err)
	}
	if g := groups(); g != ",g," {
		t.Fatalf("failed DeleteWebhooks left %q", g)
	}
	if err := e.store.DeleteWebhooks(e.ctx, e.t, []string{w1.ID, w2.ID}, []*linkd.AuditEntry{ev(), ev()}); err != nil {
		t.Fatal(err)
	}
	if g := groups(); g != "gone,gone," {
		t.Fatalf("after DeleteWebhooks: %q", g)
	}
}
