package connect_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/oauthtest"
	"github.com/linkd-dev/linkd/worker"
)

// endpoint makes an endpoint through the store, as the API will.
func (f *fixture) endpoint(t *testing.T, slug string, events ...string) *linkd.Webhook {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: events, URL: "https://hooks.example.com/" + slug, Type: "default",
		Method: "POST", Slug: slug, CreatedAt: now, UpdatedAt: now}
	if err := f.store.CreateWebhook(t.Context(), f.tenant, w, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.create"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// received returns the events delivered to w that seen does not hold yet,
// adding them to it, and fails when an event has two deliveries to w.
func (f *fixture) received(t *testing.T, w *linkd.Webhook, seen map[string]bool) []*linkd.Event {
	t.Helper()
	ds, err := f.store.Deliveries(t.Context(), f.tenant, w.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*linkd.Event
	for _, d := range ds {
		if seen[w.ID+d.EventID] {
			continue
		}
		seen[w.ID+d.EventID] = true
		ev, err := f.store.WebhookEvent(t.Context(), f.tenant, d.EventID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// TestConnectionEvents: a new grant (OAuth callback, migrated tokens)
// announces Connection Created, the refresher's expiry Connection Expired,
// a disconnect or the account's deletion Connection Deleted; a routine
// refresh and a refused change announce nothing. Each reaches every
// endpoint subscribed to it once, an endpoint filtered by app only that
// app's, with the reference's payload.
func TestConnectionEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		ctx := t.Context()
		on, id, secret := true, oauthtest.ClientID, oauthtest.ClientSecret
		if _, err := f.svc.PutSettings(ctx, f.tenant, "test", "testprov", connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
			t.Fatal(err)
		}
		conn := []string{linkd.EventConnectionCreated, linkd.EventConnectionExpired, linkd.EventConnectionDeleted}
		all := f.endpoint(t, "", conn...)
		mine := f.endpoint(t, "testprov", conn...)
		other := f.endpoint(t, "slack", conn...)
		seen := map[string]bool{}
		expect := func(what, typ string) {
			t.Helper()
			var ids []string
			for _, w := range []*linkd.Webhook{all, mine} {
				got := f.received(t, w, seen)
				if typ == "" {
					if len(got) != 0 {
						t.Fatalf("%s: endpoint %q received %d events", what, w.Slug, len(got))
					}
					continue
				}
				if len(got) != 1 {
					t.Fatalf("%s: endpoint %q received %d events, want one %s", what, w.Slug, len(got), typ)
				}
				ev := got[0]
				ids = append(ids, ev.ID)
				var m map[string]any
				if err := json.Unmarshal(ev.Payload, &m); err != nil {
					t.Fatal(err)
				}
				keys := slices.Sorted(maps.Keys(m))
				if !slices.Equal(keys, []string{"createdAt", "environment", "event", "linked_account_id", "org_id", "slug", "type"}) ||
					ev.Type != typ || ev.Slug != "testprov" || ev.AccountID != "cust" || m["event"] != typ || m["slug"] != "testprov" ||
					m["type"] != "General" || m["linked_account_id"] != "cust" || m["org_id"] != f.tenant.OrgID || m["environment"] != "test" {
					t.Fatalf("%s: event %+v, payload %s", what, ev, ev.Payload)
				}
				if _, err := time.Parse(linkd.EventTimeFormat, m["createdAt"].(string)); err != nil {
					t.Fatalf("%s: createdAt %v", what, err)
				}
			}
			if len(ids) == 2 && ids[0] != ids[1] {
				t.Fatalf("%s: the endpoints received different events", what)
			}
			if got := f.received(t, other, seen); len(got) != 0 {
				t.Fatalf("%s: the slack endpoint received %s", what, got[0].Type)
			}
		}

		cb := f.authorize(t)
		if _, err := f.svc.Callback(ctx, cb, nil); err != nil {
			t.Fatal(err)
		}
		expect("a callback", linkd.EventConnectionCreated)
		if _, err := f.svc.Callback(ctx, cb, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("reused state: %v", err)
		}
		expect("a refused callback", "")

		// A routine refresh is silent; an expiry is announced once.
		refresher := connect.NewRefresher(f.svc, worker.Options{Owner: "test"})
		_, conns, _ := s.Connections(ctx, f.tenant, "cust")
		f.now = conns[0].TokenExpiresAt.Add(-time.Minute)
		if n, err := refresher.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("refresh: %d, %v", n, err)
		}
		expect("a refresh", "")
		acct, conns, _ := s.Connections(ctx, f.tenant, "cust")
		sec, _ := f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])
		if err := f.prov.Manager.RemoveRefreshToken(ctx, sec.RefreshToken); err != nil {
			t.Fatal(err)
		}
		f.now = conns[0].TokenExpiresAt.Add(-time.Minute).Add(connect.RefreshRetry)
		if n, err := refresher.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("refused refresh: %d, %v", n, err)
		}
		expect("invalid_grant", linkd.EventConnectionExpired)
		if n, _ := refresher.Drain(ctx); n != 0 {
			t.Fatal("an expired connection is refreshed again")
		}
		expect("after the expiry", "")

		// Reconnecting, and bringing tokens over, are new grants.
		f.now = time.Now().UTC()
		if _, err := f.svc.Callback(ctx, f.authorize(t), nil); err != nil {
			t.Fatal(err)
		}
		expect("a reconnect", linkd.EventConnectionCreated)
		if _, err := f.svc.Migrate(ctx, f.tenant, "test", "cust", "testprov", connect.MigrateInput{AccessToken: "at", RefreshToken: "rt"}); err != nil {
			t.Fatal(err)
		}
		expect("migrated tokens", linkd.EventConnectionCreated)
		if _, err := f.svc.Migrate(ctx, f.tenant, "test", "cust", "testprov", connect.MigrateInput{}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("migrate without tokens: %v", err)
		}
		expect("a refused migrate", "")

		if _, err := f.svc.Disconnect(ctx, f.tenant, "test", "cust", "testprov", ""); err != nil {
			t.Fatal(err)
		}
		expect("a disconnect", linkd.EventConnectionDeleted)
		if _, err := f.svc.Disconnect(ctx, f.tenant, "test", "cust", "testprov", ""); err != nil {
			t.Fatal(err)
		}
		expect("a disconnect of nothing", "")

		// Deleting the account announces its connections' removal.
		if _, err := f.svc.Callback(ctx, f.authorize(t), nil); err != nil {
			t.Fatal(err)
		}
		expect("a connect", linkd.EventConnectionCreated)
		if err := f.svc.Accounts.Delete(ctx, f.tenant, "test", "cust"); err != nil {
			t.Fatal(err)
		}
		expect("the account's deletion", linkd.EventConnectionDeleted)
	})
}
