package http_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

const wh = "/api/v2/public/webhook"

// webhookFields are the compatible API's fields of a webhook, every one of
// which each answer carries.
var webhookFields = []string{"_id", "org_id", "environment", "is_enabled", "webhook_events", "webhook_url", "webhook_type", "method",
	"webhook_headers", "webhook_body", "slug", "workflow_ids", "description", "group", "createdAt", "updatedAt"}

func TestWebhooks(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		t.Run("CRUD", func(t *testing.T) { testWebhookCRUD(t, newFixture(t, store, 0)) })
		t.Run("Errors", func(t *testing.T) { testWebhookErrors(t, newFixture(t, store, 0)) })
		t.Run("GroupEdit", func(t *testing.T) { testWebhookGroupEdit(t, newFixture(t, store, 0)) })
		t.Run("Subscribe", func(t *testing.T) { testWebhookSubscribe(t, newFixture(t, store, 0)) })
		t.Run("Secret", func(t *testing.T) { testWebhookSecret(t, newFixture(t, store, 0)) })
		t.Run("Isolation", func(t *testing.T) { testWebhookIsolation(t, newFixture(t, store, 0)) })
		t.Run("Deliveries", func(t *testing.T) { testWebhookDeliveries(t, newFixture(t, store, 0)) })
		t.Run("DeliveryLog", func(t *testing.T) { testWebhookDeliveryLog(t, newFixture(t, store, 0)) })
	})
}

// list decodes a JSON array answer.
func list(t *testing.T, res response) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(res.raw, &out); err != nil || out == nil {
		t.Fatalf("want a JSON array, got %d %s (%v)", res.status, res.raw, err)
	}
	return out
}

func (f *fixture) createWebhook(key string, body map[string]any) map[string]any {
	f.t.Helper()
	res := f.do("POST", wh, key, body)
	if res.status != 200 {
		f.t.Fatalf("create webhook %v: %d %s", body, res.status, res.raw)
	}
	return res.json
}

func checkShape(t *testing.T, label string, got map[string]any, extra ...string) {
	t.Helper()
	want := append(slices.Clone(webhookFields), extra...)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sort.Strings(want)
	if !slices.Equal(keys, want) {
		t.Errorf("%s: fields %v, want %v", label, keys, want)
	}
}

func testWebhookCRUD(t *testing.T, f *fixture) {
	created := f.createWebhook("a", map[string]any{"webhook_url": "https://hooks.example.com/linkd", "webhook_events": []string{"Connection Created", "Linked Account Deleted"}})
	checkShape(t, "create", created, "secret")
	id, _ := created["_id"].(string)
	match(t, "create", created, map[string]any{"is_enabled": true, "webhook_events": []string{"Connection Created", "Linked Account Deleted"},
		"webhook_url": "https://hooks.example.com/linkd", "webhook_type": "default", "method": "POST", "webhook_headers": map[string]any{},
		"webhook_body": "{{event}}", "slug": "", "workflow_ids": []string{}, "description": "", "group": "", "environment": "test"})
	if s, _ := created["secret"].(string); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("create: secret %q", created["secret"])
	}

	got := f.do("GET", wh+"/"+id, "a", nil)
	if got.status != 200 {
		t.Fatalf("get: %d %s", got.status, got.raw)
	}
	checkShape(t, "get", got.json)
	if got.json["createdAt"] != created["createdAt"] || got.json["org_id"] != created["org_id"] {
		t.Errorf("get = %s, created %v", got.raw, created)
	}

	// A partial PUT changes what it sends and nothing else.
	custom := `{"kind":"{{event.type}}","who":"{{linked_account_name}}","out":"{{workflow_response.total}}"}`
	res := f.do("PUT", wh+"/"+id, "a", map[string]any{"description": "billing sync", "webhook_type": "custom", "webhook_body": custom,
		"method": "put", "webhook_headers": map[string]string{"Authorization": "Bearer rcv"}, "slug": "stripe", "workflow_ids": []string{"wf1", "wf1", "wf2"}})
	if res.status != 200 {
		t.Fatalf("put: %d %s", res.status, res.raw)
	}
	checkShape(t, "put", res.json)
	match(t, "put", res.json, map[string]any{"description": "billing sync", "webhook_type": "custom", "webhook_body": custom, "method": "PUT",
		"webhook_headers": map[string]any{"Authorization": "Bearer rcv"}, "slug": "stripe", "workflow_ids": []string{"wf1", "wf2"},
		"webhook_url": "https://hooks.example.com/linkd", "webhook_events": []string{"Connection Created", "Linked Account Deleted"}, "is_enabled": true})
	res = f.do("PUT", wh+"/"+id, "a", map[string]any{"is_enabled": false})
	match(t, "disable", res.json, map[string]any{"is_enabled": false, "description": "billing sync", "webhook_type": "custom"})
	// Back to default drops the custom body.
	res = f.do("PUT", wh+"/"+id, "a", map[string]any{"webhook_type": "default", "slug": ""})
	match(t, "back to default", res.json, map[string]any{"webhook_type": "default", "webhook_body": "{{event}}", "slug": ""})
	// A PUT that changes nothing writes nothing.
	before := res.json["updatedAt"]
	res = f.do("PUT", wh+"/"+id, "a", map[string]any{"description": "billing sync"})
	if res.status != 200 || res.json["updatedAt"] != before {
		t.Errorf("no-op put: %d %s, updatedAt was %v", res.status, res.raw, before)
	}

	second := f.createWebhook("a", map[string]any{"webhook_url": "http://127.0.0.1:9/h", "webhook_events": []string{"Import Completed"}})
	all := list(t, f.do("GET", wh, "a", nil))
	if len(all) != 2 || all[0]["_id"] != id || all[1]["_id"] != second["_id"] {
		t.Fatalf("list: %v", all)
	}
	for _, w := range all {
		checkShape(t, "list", w)
	}
	// DELETE answers the remaining webhooks.
	res = f.do("DELETE", wh+"/"+id, "a", nil)
	rest := list(t, res)
	if res.status != 200 || len(rest) != 1 || rest[0]["_id"] != second["_id"] {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", wh+"/"+id, "a", nil); res.status != 404 || res.json["error"] != "RESOURCE_NOT_FOUND" {
		t.Errorf("get deleted: %d %s", res.status, res.raw)
	}
	if res := f.do("DELETE", wh+"/"+id, "a", nil); res.status != 404 {
		t.Errorf("delete again: %d %s", res.status, res.raw)
	}
	// The SDK's DELETE without an id deletes every endpoint of the environment.
	f.createWebhook("aprod", map[string]any{"webhook_url": "https://prod.example.com/h", "webhook_events": []string{"Import Completed"}})
	res = f.do("DELETE", wh, "a", nil)
	if rest := list(t, res); res.status != 200 || len(rest) != 0 {
		t.Fatalf("delete all: %d %s", res.status, res.raw)
	}
	if rest := list(t, f.do("GET", wh, "aprod", nil)); len(rest) != 1 {
		t.Fatalf("delete all in test deleted production's: %v", rest)
	}

	// Every change is audited, by field name, never with the secret.
	audit := f.do("GET", "/api/v2/public/audit?limit=100", "a", nil)
	var actions []string
	for _, e := range audit.json["docs"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	for _, want := range []string{"webhook.create", "webhook.update", "webhook.delete"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit: no %s in %v", want, actions)
		}
	}
	if strings.Contains(string(audit.raw), "whsec_") || strings.Contains(string(audit.raw), created["secret"].(string)) {
		t.Errorf("audit shows a secret: %s", audit.raw)
	}
	if !strings.Contains(string(audit.raw), `"webhook_url"`) || !strings.Contains(string(audit.raw), `"description"`) {
		t.Errorf("audit does not name the changed fields: %s", audit.raw)
	}
}

func testWebhookErrors(t *testing.T, f *fixture) {
	ok := map[string]any{"webhook_url": "https://hooks.example.com/x", "webhook_events": []string{"Connection Created"}}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for _, c := range []struct {
		name  string
		body  any
		field string
		typ   string
	}{
		{"unknown event", with("webhook_events", []string{"Connection Created", "Account Exploded"}), "webhook_events[1]", "INVALID_EVENT"},
		{"kebab event on the new route", with("webhook_events", []string{"connection-created"}), "webhook_events[0]", "INVALID_EVENT"},
		{"no events", with("webhook_events", []string{}), "webhook_events", "INVALID_EVENT"},
		{"events missing", with("webhook_events", nil), "webhook_events", "INVALID_EVENT"},
		{"events not a list", with("webhook_events", "Connection Created"), "webhook_events", ""},
		{"url missing", with("webhook_url", nil), "webhook_url", ""},
		{"url relative", with("webhook_url", "/hooks"), "webhook_url", ""},
		{"url plain http", with("webhook_url", "http://hooks.example.com/x"), "webhook_url", ""},
		{"url credentials", with("webhook_url", "https://u:p@hooks.example.com/x"), "webhook_url", ""},
		{"url scheme", with("webhook_url", "ftp://hooks.example.com/x"), "webhook_url", ""},
		{"type", with("webhook_type", "fancy"), "webhook_type", ""},
		{"method", with("method", "GET"), "method", ""},
		{"body on default", with("webhook_body", `{"a":"{{event.type}}"}`), "webhook_body", ""},
		{"custom body reads outside", with("webhook_type", "custom", "webhook_body", `{"a":"{{connection.credentials.token}}"}`), "webhook_body", ""},
		{"custom body syntax", with("webhook_type", "custom", "webhook_body", `{"a":"{{event.type"}`), "webhook_body", ""},
		{"custom body expression", with("webhook_type", "custom", "webhook_body", `{{ event.type | upper }}`), "webhook_body", ""},
		{"header reserved", with("webhook_headers", map[string]string{"webhook-signature": "x"}), "webhook_headers.webhook-signature", ""},
		{"header host", with("webhook_headers", map[string]string{"Host": "evil"}), "webhook_headers.Host", ""},
		{"header name", with("webhook_headers", map[string]string{"bad name": "x"}), "webhook_headers", ""},
		{"header value", with("webhook_headers", map[string]string{"X-A": "a\r\nX-B: b"}), "webhook_headers.X-A", ""},
		{"slug unknown", with("slug", "no-such-app"), "slug", "INVALID_APP_ID"},
		{"workflow id empty", with("workflow_ids", []string{""}), "workflow_ids[0]", ""},
		{"description too long", with("description", strings.Repeat("d", 1001)), "description", ""},
		{"group too long", with("group", strings.Repeat("g", 256)), "group", ""},
	} {
		res := f.do("POST", wh, "a", c.body)
		if res.status != 400 || res.json["field"] != c.field || c.typ != "" && res.json["error"] != c.typ {
			t.Errorf("%s: %d %s; want 400 on %s %s", c.name, res.status, res.raw, c.field, c.typ)
		}
	}
	if all := list(t, f.do("GET", wh, "a", nil)); len(all) != 0 {
		t.Fatalf("refused creates stored something: %v", all)
	}
	// A refused PUT changes nothing.
	id := f.createWebhook("a", ok)["_id"].(string)
	before := f.do("GET", wh+"/"+id, "a", nil).raw
	for _, body := range []map[string]any{
		{"description": "changed", "webhook_events": []string{"Nope"}},
		{"webhook_type": "custom", "webhook_body": "{{secrets}}"},
		{"webhook_body": `{"a":"{{event.type}}"}`},
		{"webhook_url": "http://10.0.0.1/x", "group": "g"},
	} {
		if res := f.do("PUT", wh+"/"+id, "a", body); res.status != 400 {
			t.Errorf("put %v: %d %s", body, res.status, res.raw)
		}
	}
	if after := f.do("GET", wh+"/"+id, "a", nil).raw; string(after) != string(before) {
		t.Errorf("a refused PUT changed the webhook:\n%s\n%s", before, after)
	}
	for _, p := range []string{wh + "/nope", wh + "/" + linkd.NewID()} {
		if res := f.do("PUT", p, "a", map[string]any{"description": "x"}); res.status != 404 {
			t.Errorf("put %s: %d %s", p, res.status, res.raw)
		}
		if res := f.do("GET", p+"/deliveries", "a", nil); res.status != 404 {
			t.Errorf("deliveries %s: %d %s", p, res.status, res.raw)
		}
	}
}

func testWebhookGroupEdit(t *testing.T, f *fixture) {
	const ge = "/api/v2/public/webhooks/group/edit"
	a := f.createWebhook("a", map[string]any{"webhook_url": "https://a.example.com/", "webhook_events": []string{"Connection Created"}})["_id"].(string)
	b := f.createWebhook("a", map[string]any{"webhook_url": "https://b.example.com/", "webhook_events": []string{"Connection Created"}})["_id"].(string)
	c := f.createWebhook("a", map[string]any{"webhook_url": "https://c.example.com/", "webhook_events": []string{"Connection Created"}, "group": "keep"})["_id"].(string)
	for _, body := range []map[string]any{{"group": "g"}, {"webhookIds": []string{}, "group": "g"}} {
		res := f.do("PUT", ge, "a", body)
		if res.status != 400 || res.json["message"] != "webhookIds is required" || res.json["field"] != "webhookIds" {
			t.Errorf("group edit %v: %d %s", body, res.status, res.raw)
		}
	}
	// An unknown id changes nothing, not even the known ones.
	res := f.do("PUT", ge, "a", map[string]any{"webhookIds": []string{a, linkd.NewID()}, "group": "g"})
	if res.status != 404 {
		t.Errorf("unknown id: %d %s", res.status, res.raw)
	}
	if g := f.do("GET", wh+"/"+a, "a", nil).json["group"]; g != "" {
		t.Errorf("a refused group edit set the group to %v", g)
	}
	res = f.do("PUT", ge, "a", map[string]any{"webhookIds": []string{a, b}, "group": "billing"})
	got := list(t, res)
	if res.status != 200 || len(got) != 2 || got[0]["group"] != "billing" || got[1]["group"] != "billing" {
		t.Fatalf("group edit: %d %s", res.status, res.raw)
	}
	if g := f.do("GET", wh+"/"+c, "a", nil).json["group"]; g != "keep" {
		t.Errorf("group edit touched another webhook: %v", g)
	}
	res = f.do("PUT", ge, "a", map[string]any{"webhookIds": []string{b}, "group": ""})
	if got := list(t, res); len(got) != 1 || got[0]["group"] != "" {
		t.Fatalf("unset group: %d %s", res.status, res.raw)
	}
	// Another tenant's ids are unknown ids.
	if res := f.do("PUT", ge, "b", map[string]any{"webhookIds": []string{a}, "group": "x"}); res.status != 404 {
		t.Errorf("group edit across tenants: %d %s", res.status, res.raw)
	}
}

func testWebhookSubscribe(t *testing.T, f *fixture) {
	sub, unsub := wh+"/subscribe", wh+"/unsubscribe"
	res := f.do("POST", sub, "a", map[string]any{"webhook_events": []string{"connection-created"}})
	if res.status != 400 || res.json["field"] != "webhook_url" {
		t.Fatalf("subscribe with no endpoint and no url: %d %s", res.status, res.raw)
	}
	res = f.do("POST", sub, "a", map[string]any{"webhook_events": []string{"connection-created", "connection-exploded"}, "webhook_url": "https://s.example.com/"})
	if res.status != 400 || res.json["error"] != "INVALID_EVENT" || res.json["field"] != "webhook_events[1]" {
		t.Fatalf("subscribe unknown event: %d %s", res.status, res.raw)
	}
	res = f.do("POST", sub, "a", map[string]any{"webhook_events": []string{"connection-created"}, "webhook_url": "https://s.example.com/"})
	if res.status != 200 || !strings.HasPrefix(res.json["secret"].(string), "whsec_") {
		t.Fatalf("subscribe creates: %d %s", res.status, res.raw)
	}
	match(t, "subscribe creates", res.json, map[string]any{"webhook_url": "https://s.example.com/", "webhook_events": []string{"connection-created"}})
	oldest := res.json["_id"]
	f.createWebhook("a", map[string]any{"webhook_url": "https://newer.example.com/", "webhook_events": []string{"Import Completed"}})
	res = f.do("POST", sub, "a", map[string]any{"webhook_events": []string{"connection-deleted", "connection-created", "linked-account-created"}})
	if res.status != 200 || res.json["_id"] != oldest || res.json["secret"] != nil {
		t.Fatalf("subscribe more: %d %s", res.status, res.raw)
	}
	match(t, "subscribe more", res.json, map[string]any{"webhook_events": []string{"connection-created", "connection-deleted", "linked-account-created"}})
	got := f.do("GET", wh+"/"+oldest.(string), "a", nil)
	match(t, "subscribed", got.json, map[string]any{"webhook_events": []string{"Connection Created", "Connection Deleted", "Linked Account Created"}})

	res = f.do("POST", unsub, "a", map[string]any{"webhook_event": "connection-deleted"})
	if res.status != 200 {
		t.Fatalf("unsubscribe: %d %s", res.status, res.raw)
	}
	match(t, "unsubscribe", res.json, map[string]any{"webhook_events": []string{"connection-created", "linked-account-created"}})
	if res := f.do("POST", unsub, "a", map[string]any{"webhook_event": "connection-deleted"}); res.status != 200 {
		t.Errorf("unsubscribe again: %d %s", res.status, res.raw)
	}
	if res := f.do("POST", unsub, "a", map[string]any{"webhook_event": "Connection Created"}); res.status != 400 || res.json["error"] != "INVALID_EVENT" {
		t.Errorf("unsubscribe by display name: %d %s", res.status, res.raw)
	}
	f.do("POST", unsub, "a", map[string]any{"webhook_event": "linked-account-created"})
	if res := f.do("POST", unsub, "a", map[string]any{"webhook_event": "connection-created"}); res.status != 400 || res.json["field"] != "webhook_event" {
		t.Errorf("unsubscribe the last event: %d %s", res.status, res.raw)
	}
	if res := f.do("POST", unsub, "b", map[string]any{"webhook_event": "connection-created"}); res.status != 404 {
		t.Errorf("unsubscribe with no endpoint: %d %s", res.status, res.raw)
	}
}

func testWebhookSecret(t *testing.T, f *fixture) {
	created := f.createWebhook("a", map[string]any{"webhook_url": "https://hooks.example.com/", "webhook_events": []string{"Connection Created"}})
	id, first := created["_id"].(string), created["secret"].(string)
	res := f.do("POST", wh+"/"+id+"/rotate-secret", "a", nil)
	second, _ := res.json["secret"].(string)
	if res.status != 200 || !strings.HasPrefix(second, "whsec_") || second == first || res.json["_id"] != id {
		t.Fatalf("rotate: %d %s", res.status, res.raw)
	}
	// No body: the old secret keeps signing for the default 24 hours.
	if until, err := time.Parse(time.RFC3339, fmt.Sprint(res.json["previous_secret_expires_at"])); err != nil ||
		until.Before(time.Now().Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("rotate without a body: previous_secret_expires_at %v", res.json["previous_secret_expires_at"])
	}
	for _, bad := range []string{`{"overlap_seconds":-1}`, `{"overlap_seconds":604801}`, `{"overlap_seconds":"1h"}`} {
		if res := f.do("POST", wh+"/"+id+"/rotate-secret", "a", bad); res.status != 400 || res.json["field"] != "overlap_seconds" {
			t.Errorf("rotate with %s: %d %s", bad, res.status, res.raw)
		}
	}
	res = f.do("POST", wh+"/"+id+"/rotate-secret", "a", map[string]any{"overlap_seconds": 0})
	if _, has := res.json["previous_secret_expires_at"]; res.status != 200 || has {
		t.Fatalf("rotate with no overlap: %d %s", res.status, res.raw)
	}
	second, _ = res.json["secret"].(string)
	for _, p := range []string{wh, wh + "/" + id, "/api/v2/public/audit?limit=100", wh + "/" + id + "/deliveries"} {
		raw := string(f.do("GET", p, "a", nil).raw)
		if strings.Contains(raw, "whsec_") || strings.Contains(raw, first[6:]) || strings.Contains(raw, second[6:]) {
			t.Errorf("GET %s shows a secret: %s", p, raw)
		}
	}
	if res := f.do("POST", wh+"/"+id+"/rotate-secret", "b", nil); res.status != 404 {
		t.Errorf("rotate across tenants: %d %s", res.status, res.raw)
	}
	// A retried create with its Idempotency-Key gets the same answer (the
	// same endpoint, hence the same secret) and makes nothing new.
	body := map[string]any{"webhook_url": "https://idem.example.com/", "webhook_events": []string{"Import Completed"}}
	r1 := f.do("POST", wh, "a", body, "Idempotency-Key", "wh-1")
	r2 := f.do("POST", wh, "a", body, "Idempotency-Key", "wh-1")
	if r1.status != 200 || string(r1.raw) != string(r2.raw) || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("idempotent create: %s / %s", r1.raw, r2.raw)
	}
	if n := len(list(t, f.do("GET", wh, "a", nil))); n != 2 {
		t.Errorf("%d webhooks after an idempotent retry, want 2", n)
	}
}

func testWebhookIsolation(t *testing.T, f *fixture) {
	id := f.createWebhook("a", map[string]any{"webhook_url": "https://victim.example.com/", "webhook_events": []string{"Connection Created"}})["_id"].(string)
	before := string(f.do("GET", wh+"/"+id, "a", nil).raw)
	if res := f.do("POST", la, "a", map[string]any{"linked_account_id": "acct"}); res.status != 200 {
		t.Fatal(res.status)
	}
	bearer := f.bearerFor("a", "acct")
	for _, key := range []string{"b", "aprod"} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", wh + "/" + id, nil}, {"PUT", wh + "/" + id, map[string]any{"description": "x"}}, {"DELETE", wh + "/" + id, nil},
			{"GET", wh + "/" + id + "/deliveries", nil}, {"POST", wh + "/" + id + "/rotate-secret", nil},
		} {
			if res := f.do(c.method, c.path, key, c.body); res.status != 404 {
				t.Errorf("%s %s as %s: %d %s", c.method, c.path, key, res.status, res.raw)
			}
		}
		if got := list(t, f.do("GET", wh, key, nil)); len(got) != 0 {
			t.Errorf("list as %s: %v", key, got)
		}
		f.do("DELETE", wh, key, nil)
	}
	// A session token is the end customer's browser: no webhook route is its.
	for _, c := range []struct{ method, path string }{{"GET", wh}, {"POST", wh}, {"GET", wh + "/" + id}, {"PUT", wh + "/" + id},
		{"DELETE", wh + "/" + id}, {"DELETE", wh}, {"POST", wh + "/subscribe"}, {"PUT", "/api/v2/public/webhooks/group/edit"}} {
		var body any
		if c.method == "POST" || c.method == "PUT" {
			body = map[string]any{"webhook_url": "https://x.example.com/", "webhook_events": []string{"Connection Created"}}
		}
		if res := f.do(c.method, c.path, bearer, body); res.status != 403 {
			t.Errorf("%s %s with a session token: %d %s", c.method, c.path, res.status, res.raw)
		}
	}
	if after := string(f.do("GET", wh+"/"+id, "a", nil).raw); after != before {
		t.Errorf("another tenant changed the webhook:\n%s\n%s", before, after)
	}
}

func testWebhookDeliveries(t *testing.T, f *fixture) {
	created := f.createWebhook("a", map[string]any{"webhook_url": "https://hooks.example.com/", "webhook_events": []string{"Import Completed"}})
	id := created["_id"].(string)
	if res := f.do("GET", wh+"/"+id+"/deliveries", "a", nil); res.status != 200 || len(res.json["docs"].([]any)) != 0 {
		t.Fatalf("no deliveries: %d %s", res.status, res.raw)
	}
	// An event rides on an audit entry, as a service would send it.
	tn := linkd.Tenant{OrgID: created["org_id"].(string), Env: linkd.EnvTest}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventImportCompleted, Payload: json.RawMessage(`{"event":"Import Completed"}`), CreatedAt: now}
	if err := f.store.AppendAudit(t.Context(), tn, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: "import.complete", Events: []*linkd.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	res := f.do("GET", wh+"/"+id+"/deliveries?limit=5", "a", nil)
	docs, _ := res.json["docs"].([]any)
	if res.status != 200 || len(docs) != 1 {
		t.Fatalf("deliveries: %d %s", res.status, res.raw)
	}
	match(t, "delivery", docs[0].(map[string]any), map[string]any{"event_id": ev.ID, "state": "pending", "attempts": 0,
		"next_attempt_at": now.Format("2006-01-02T15:04:05.000Z")})
	if res := f.do("GET", wh+"/"+id+"/deliveries?limit=0", "a", nil); res.status != 400 || res.json["field"] != "limit" {
		t.Errorf("limit 0: %d %s", res.status, res.raw)
	}
}

// testWebhookDeliveryLog: the delivery log API over the store: list with
// filters and paging, one delivery with its attempts, redeliver, test and
// replay, each checked in the store.
func testWebhookDeliveryLog(t *testing.T, f *fixture) {
	created := f.createWebhook("a", map[string]any{"webhook_url": "https://hooks.example.com/", "webhook_events": []string{"Import Completed", "Linked Account Deleted"}})
	id := created["_id"].(string)
	tn := linkd.Tenant{OrgID: created["org_id"].(string), Env: linkd.EnvTest}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var evs []*linkd.Event
	for i, typ := range []string{linkd.EventImportCompleted, linkd.EventAccountDeleted, linkd.EventImportCompleted} {
		at := base.Add(time.Duration(i) * time.Minute)
		ev := &linkd.Event{ID: linkd.NewEventID(), Type: typ, Payload: json.RawMessage(`{"event":"` + typ + `"}`), CreatedAt: at}
		if err := f.store.AppendAudit(t.Context(), tn, &linkd.AuditEntry{ID: linkd.NewID(), Time: at, Actor: "test", Action: "x", Events: []*linkd.Event{ev}}); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	// The first fails for good, with a response the log keeps.
	d, err := f.store.Delivery(t.Context(), tn, id, evs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	failAt := base.Add(10 * time.Minute)
	if err := f.store.FinishDelivery(t.Context(), d, &linkd.DeliveryAttempt{At: failAt, Status: 500, Duration: 1500 * time.Microsecond,
		Headers: map[string]string{"Content-Type": "text/plain", "Set-Cookie": "[redacted]"}, Body: []byte("boom"), Error: "the endpoint answered 500"},
		linkd.DeliveryFailed, failAt, ""); err != nil {
		t.Fatal(err)
	}

	res := f.do("GET", wh+"/"+id+"/deliveries?limit=2", "a", nil)
	if res.status != 200 {
		t.Fatalf("list: %d %s", res.status, res.raw)
	}
	match(t, "page 1", res.json, map[string]any{"totalDocs": 3, "limit": 2, "totalPages": 2, "page": 1, "pagingCounter": 1,
		"hasPrevPage": false, "hasNextPage": true, "nextPage": 2, "prevPage": nil})
	if docs := res.json["docs"].([]any); len(docs) != 2 || docs[0].(map[string]any)["event_id"] != evs[2].ID {
		t.Fatalf("page 1 docs: %s", res.raw)
	}
	res = f.do("GET", wh+"/"+id+"/deliveries?limit=2&page=2", "a", nil)
	match(t, "page 2", res.json, map[string]any{"totalDocs": 3, "page": 2, "hasPrevPage": true, "hasNextPage": false, "prevPage": 1, "nextPage": nil})
	if docs := res.json["docs"].([]any); len(docs) != 1 || docs[0].(map[string]any)["event_id"] != evs[0].ID {
		t.Fatalf("page 2 docs: %s", res.raw)
	}
	for q, want := range map[string][]string{
		"state=failed": {evs[0].ID}, "state=pending": {evs[2].ID, evs[1].ID}, "event=linked-account-deleted": {evs[1].ID},
		"event=Import%20Completed&state=pending": {evs[2].ID}, "event=Test": nil,
	} {
		res := f.do("GET", wh+"/"+id+"/deliveries?"+q, "a", nil)
		var got []string
		for _, d := range res.json["docs"].([]any) {
			got = append(got, d.(map[string]any)["event_id"].(string))
		}
		if res.status != 200 || !slices.Equal(got, want) || res.json["totalDocs"] != float64(len(want)) {
			t.Errorf("?%s: %v, want %v (%s)", q, got, want, res.raw)
		}
	}
	for q, field := range map[string]string{"state=done": "state", "event=nope": "event", "page=0": "page", "limit=1001": "limit"} {
		if res := f.do("GET", wh+"/"+id+"/deliveries?"+q, "a", nil); res.status != 400 || res.json["field"] != field {
			t.Errorf("?%s: %d %s, want 400 on %s", q, res.status, res.raw, field)
		}
	}

	// One delivery: its event and attempts.
	res = f.do("GET", wh+"/"+id+"/deliveries/"+evs[0].ID, "a", nil)
	if res.status != 200 {
		t.Fatalf("get delivery: %d %s", res.status, res.raw)
	}
	match(t, "delivery", res.json, map[string]any{"event_id": evs[0].ID, "event_type": "Import Completed", "state": "failed", "attempts": 1,
		"next_attempt_at": nil, "webhook_id": id,
		"event": map[string]any{"id": evs[0].ID, "type": "Import Completed", "payload": map[string]any{"event": "Import Completed"}},
		"attempts_log": []any{map[string]any{"attempt": 1, "status": 500, "duration_ms": 1.5, "response_body": "boom", "error": "the endpoint answered 500",
			"response_headers": map[string]any{"Content-Type": "text/plain", "Set-Cookie": "[redacted]"}, "at": failAt.Format("2006-01-02T15:04:05.000Z")}}})
	for _, p := range []string{"/deliveries/msg_0123", "/deliveries/nope", "/deliveries/" + evs[0].ID + "x"} {
		if res := f.do("GET", wh+"/"+id+p, "a", nil); res.status != 404 {
			t.Errorf("GET %s: %d %s", p, res.status, res.raw)
		}
	}
	// Another tenant sees none of it.
	if res := f.do("GET", wh+"/"+id+"/deliveries/"+evs[0].ID, "b", nil); res.status != 404 {
		t.Errorf("another tenant read a delivery: %d %s", res.status, res.raw)
	}

	// Redeliver: pending, due now, attempts kept.
	res = f.do("POST", wh+"/"+id+"/deliveries/"+evs[0].ID+"/redeliver", "a", nil)
	if res.status != 200 || res.json["state"] != "pending" || res.json["attempts"] != float64(1) || res.json["next_attempt_at"] == nil {
		t.Fatalf("redeliver: %d %s", res.status, res.raw)
	}
	if d, err := f.store.Delivery(t.Context(), tn, id, evs[0].ID); err != nil || d.State != linkd.DeliveryPending || time.Since(d.NextAt) > time.Minute {
		t.Fatalf("after redeliver: %+v, %v", d, err)
	}
	if res := f.do("POST", wh+"/"+id+"/deliveries/"+evs[0].ID+"/redeliver", "b", nil); res.status != 404 {
		t.Errorf("another tenant redelivered: %d %s", res.status, res.raw)
	}

	// Test: a Test event for this endpoint only.
	res = f.do("POST", wh+"/"+id+"/test", "a", nil)
	if res.status != 200 || res.json["event_type"] != "Test" || res.json["state"] != "pending" {
		t.Fatalf("test: %d %s", res.status, res.raw)
	}
	testID := res.json["event_id"].(string)
	ev, err := f.store.WebhookEvent(t.Context(), tn, testID)
	if err != nil || ev.Type != linkd.EventTest {
		t.Fatalf("the test event: %+v, %v", ev, err)
	}
	var payload map[string]any
	json.Unmarshal(ev.Payload, &payload)
	if payload["event"] != "Test" || payload["webhook_id"] != id || payload["createdAt"] == nil {
		t.Fatalf("test payload: %s", ev.Payload)
	}

	// Replay: the failed deliveries of a window.
	for _, e := range evs[1:] {
		d, _ := f.store.Delivery(t.Context(), tn, id, e.ID)
		if err := f.store.FinishDelivery(t.Context(), d, &linkd.DeliveryAttempt{At: failAt, Status: 503}, linkd.DeliveryFailed, failAt, ""); err != nil {
			t.Fatal(err)
		}
	}
	res = f.do("POST", wh+"/"+id+"/replay", "a", map[string]any{"since": base.Add(30 * time.Second).Format(time.RFC3339Nano)})
	if res.status != 200 || res.json["replayed"] != float64(2) {
		t.Fatalf("replay: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", wh+"/"+id+"/deliveries?state=failed", "a", nil); res.json["totalDocs"] != float64(0) {
		t.Errorf("failed after the replay: %s", res.raw)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{{map[string]any{}, "since"}, {map[string]any{"since": "yesterday"}, "since"}, {map[string]any{"since": base.Format(time.RFC3339), "state": "pending"}, "state"},
		{map[string]any{"since": base.Format(time.RFC3339), "until": base.Add(-time.Hour).Format(time.RFC3339)}, "until"}} {
		if res := f.do("POST", wh+"/"+id+"/replay", "a", c.body); res.status != 400 || res.json["field"] != c.field {
			t.Errorf("replay %v: %d %s, want 400 on %s", c.body, res.status, res.raw, c.field)
		}
	}

	// A disabled endpoint is sent nothing: enable it first.
	if res := f.do("PUT", wh+"/"+id, "a", map[string]any{"is_enabled": false}); res.status != 200 {
		t.Fatal(res.status)
	}
	for _, p := range []string{"/test", "/deliveries/" + evs[0].ID + "/redeliver"} {
		if res := f.do("POST", wh+"/"+id+p, "a", nil); res.status != 409 || res.json["field"] != "is_enabled" {
			t.Errorf("POST %s on a disabled endpoint: %d %s", p, res.status, res.raw)
		}
	}
}
