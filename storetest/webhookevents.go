package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// outbox reads what endpoints received, each event once: next returns the
// events delivered to w since the last call.
type outbox struct {
	e    *env
	tn   linkd.Tenant
	seen map[string]bool
}

func (e *env) outbox(tn linkd.Tenant) *outbox { return &outbox{e: e, tn: tn, seen: map[string]bool{}} }

func (o *outbox) next(t *testing.T, w *linkd.Webhook) []*linkd.Event {
	t.Helper()
	ds, err := o.e.store.Deliveries(o.e.ctx, o.tn, w.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*linkd.Event
	perEvent := map[string]int{}
	for _, d := range ds {
		perEvent[d.EventID]++
		key := w.ID + "/" + d.EventID
		if o.seen[key] {
			continue
		}
		o.seen[key] = true
		ev, err := o.e.store.WebhookEvent(o.e.ctx, o.tn, d.EventID)
		if err != nil {
			t.Fatalf("the event of delivery %+v: %v", d, err)
		}
		out = append(out, ev)
	}
	for id, n := range perEvent {
		if n != 1 {
			t.Fatalf("event %s has %d deliveries to one endpoint", id, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// types are the events' types, sorted.
func types(evs []*linkd.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	slices.Sort(out)
	return out
}

// expect checks that w received exactly the events of the given types
// since the last look.
func (o *outbox) expect(t *testing.T, what string, w *linkd.Webhook, want ...string) []*linkd.Event {
	t.Helper()
	got := o.next(t, w)
	slices.Sort(want)
	if !slices.Equal(types(got), want) {
		t.Fatalf("%s: endpoint %v received %v, want %v", what, w.Events, types(got), want)
	}
	return got
}

// payloadOf decodes an event's payload, checking it has exactly keys.
func payloadOf(t *testing.T, ev *linkd.Event, keys ...string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Payload, &m); err != nil {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("payload %s has keys %v, want %v", ev.Payload, got, keys)
	}
	if _, err := time.Parse(linkd.EventTimeFormat, m["createdAt"].(string)); err != nil {
		t.Fatalf("payload %s: createdAt is not an RFC 1123 date: %v", ev.Payload, err)
	}
	return m
}

// checkAccountEvent checks a Linked Account event's payload: ids only.
func checkAccountEvent(t *testing.T, ev *linkd.Event, tn linkd.Tenant, typ, accountID string) {
	t.Helper()
	m := payloadOf(t, ev, "event", "linked_account_id", "org_id", "environment", "createdAt")
	if ev.Type != typ || ev.AccountID != accountID || ev.Slug != "" || m["event"] != typ || m["linked_account_id"] != accountID ||
		m["org_id"] != tn.OrgID || m["environment"] != string(tn.Env) {
		t.Fatalf("%s event %+v, payload %s", typ, ev, ev.Payload)
	}
}

// checkConnectionEvent checks a Connection event's payload: the
// reference's shape.
func checkConnectionEvent(t *testing.T, ev *linkd.Event, tn linkd.Tenant, typ, accountID, slug string) {
	t.Helper()
	m := payloadOf(t, ev, "linked_account_id", "org_id", "environment", "type", "event", "slug", "createdAt")
	if ev.Type != typ || ev.AccountID != accountID || ev.Slug != slug || m["event"] != typ || m["linked_account_id"] != accountID ||
		m["org_id"] != tn.OrgID || m["environment"] != string(tn.Env) || m["type"] != "General" || m["slug"] != slug {
		t.Fatalf("%s event %+v, payload %s", typ, ev, ev.Payload)
	}
}

// testAccountEvents: every change AccountService makes announces one
// Linked Account event (and a deletion one Connection Deleted per app it
// removes), delivered once to each endpoint subscribed to it; a refused
// change, or one that changes nothing, announces nothing.
func testAccountEvents(t *testing.T, e *env) {
	all := e.webhook(t, e.t, []string{linkd.EventAccountCreated, linkd.EventAccountUpdated, linkd.EventAccountDeleted, linkd.EventConnectionDeleted}, nil)
	created := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	slack := e.webhook(t, e.t, []string{linkd.EventConnectionDeleted}, func(w *linkd.Webhook) { w.Slug = "slack" })
	off := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, func(w *linkd.Webhook) { w.Enabled = false })
	ob := e.outbox(e.t)

	a := e.create(t, e.t, "a1", "Secret Name", map[string]string{"plan": `"gold"`})
	evs := ob.expect(t, "Create", all, linkd.EventAccountCreated)
	checkAccountEvent(t, evs[0], e.t, linkd.EventAccountCreated, "a1")
	if !evs[0].CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("event time %v, account created %v", evs[0].CreatedAt, a.CreatedAt)
	}
	if other := ob.expect(t, "Create", created, linkd.EventAccountCreated); other[0].ID != evs[0].ID {
		t.Fatal("two endpoints received different events for one create")
	}
	ob.expect(t, "Create", off)
	ob.expect(t, "Create", slack)

	// Refused: the id is taken; the input is invalid.
	name := "x"
	_, err := e.svc.Create(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "a1", Name: &name})
	wantCode(t, err, linkd.EEXISTS)
	_, err = e.svc.Create(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "", Name: &name})
	wantCode(t, err, linkd.EINVALID)
	ob.expect(t, "a refused create", all)

	// Upsert: creates, changes nothing, updates.
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "a2", Name: &name}); err != nil {
		t.Fatal(err)
	}
	ob.expect(t, "Upsert (new)", all, linkd.EventAccountCreated)
	ob.expect(t, "Upsert (new)", created, linkd.EventAccountCreated)
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "a2", Name: &name}); err != nil {
		t.Fatal(err)
	}
	ob.expect(t, "Upsert (unchanged)", all)
	renamed := "y"
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "a2", Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	evs = ob.expect(t, "Upsert (changed)", all, linkd.EventAccountUpdated)
	checkAccountEvent(t, evs[0], e.t, linkd.EventAccountUpdated, "a2")
	ob.expect(t, "Upsert (changed)", created)

	// Update; of a missing account it is refused.
	if _, _, err := e.svc.Update(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "a1", UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"tin"`)}}); err != nil {
		t.Fatal(err)
	}
	evs = ob.expect(t, "Update", all, linkd.EventAccountUpdated)
	checkAccountEvent(t, evs[0], e.t, linkd.EventAccountUpdated, "a1")
	_, _, err = e.svc.Update(e.ctx, e.t, "k", linkd.AccountInput{AccountID: "nobody", Name: &name})
	wantCode(t, err, linkd.ENOTFOUND)
	ob.expect(t, "Update of a missing account", all)

	// UpdateOwn: refused by default, announced when allowed.
	settings := linkd.NewSettingsService(e.store)
	_, err = e.svc.UpdateOwn(e.ctx, e.t, "session:s", settings, linkd.AccountInput{AccountID: "a1", Name: &renamed})
	wantCode(t, err, linkd.EFORBIDDEN)
	ob.expect(t, "a refused UpdateOwn", all)
	on := true
	if _, err := settings.Update(e.ctx, e.t, "k", linkd.TenantSettingsUpdate{SessionTokenMayRename: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateOwn(e.ctx, e.t, "session:s", settings, linkd.AccountInput{AccountID: "a1", Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	ob.expect(t, "UpdateOwn", all, linkd.EventAccountUpdated)

	// Delete: the connections it removes (one event per app, however many
	// auth types), then the account.
	e.putConn(t, e.t, "a1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
	e.putConn(t, e.t, "a1", "slack", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"k": "v"}})
	e.putConn(t, e.t, "a1", "github", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "b"})
	if err := e.svc.Delete(e.ctx, e.t, "k", "a1"); err != nil {
		t.Fatal(err)
	}
	// expect sorts by type: Connection … before Linked Account ….
	evs = ob.expect(t, "Delete", all, linkd.EventAccountDeleted, linkd.EventConnectionDeleted, linkd.EventConnectionDeleted)
	checkAccountEvent(t, evs[2], e.t, linkd.EventAccountDeleted, "a1")
	checkConnectionEvent(t, evs[0], e.t, linkd.EventConnectionDeleted, "a1", evs[0].Slug)
	slugs := []string{evs[0].Slug, evs[1].Slug}
	slices.Sort(slugs)
	if !slices.Equal(slugs, []string{"github", "slack"}) {
		t.Fatalf("Connection Deleted for %v", slugs)
	}
	if got := ob.expect(t, "Delete", slack, linkd.EventConnectionDeleted); got[0].Slug != "slack" {
		t.Fatalf("the slack endpoint received %+v", got[0])
	}
	wantCode(t, e.svc.Delete(e.ctx, e.t, "k", "a1"), linkd.ENOTFOUND)
	ob.expect(t, "a second Delete", all)

	// The bulk path deletes through Delete: one event per account.
	e.create(t, e.t, "b1", "B", nil)
	e.create(t, e.t, "b2", "B", nil)
	ob.expect(t, "creates", all, linkd.EventAccountCreated, linkd.EventAccountCreated)
	bulk := linkd.NewBulkService(e.store, e.svc)
	bulk.Owner, bulk.Lease = "o", time.Minute
	if _, err := bulk.QueueDelete(e.ctx, e.t, "k", linkd.BulkSelection{IDs: []string{"b1", "b2", "gone"}}, 3); err != nil {
		t.Fatal(err)
	}
	j, err := bulk.Claim(e.ctx, linkd.Claim{Owner: "o", Now: time.Now(), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := bulk.Run(e.ctx, j); err != nil || j.State != linkd.BulkSucceeded {
		t.Fatalf("bulk delete: %v, %+v", err, j)
	}
	evs = ob.expect(t, "bulk delete", all, linkd.EventAccountDeleted, linkd.EventAccountDeleted)
	if ids := []string{evs[0].AccountID, evs[1].AccountID}; !slices.Contains(ids, "b1") || !slices.Contains(ids, "b2") {
		t.Fatalf("bulk delete announced %v", ids)
	}
	ob.expect(t, "the rest", created, linkd.EventAccountCreated, linkd.EventAccountCreated)
}
