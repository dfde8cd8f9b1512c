package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// flowApp is keyApp with a workflow that posts the event's order to the
// app and returns what the app saw.
func flowApp(u *upstream) string {
	return keyApp(u) + `    workflows:
      - id: push
        name: Push order
        trigger: {event: Order Created}
        steps:
          - id: post
            http: {method: POST, path: "/orders/{{event.id}}", body: {total: "{{event.total}}"}}
          - id: out
            return: {status: "{{steps.post.status}}", path: "{{steps.post.body.Path}}"}
`
}

func newFlowFixture(t *testing.T, store linkd.Store) (*fixture, *upstream) {
	u := newUpstream(t)
	f := startFixture(t, store, 0, false, flowApp(u))
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "C"})
	hdr := []string{"linked_account_id", "cust"}
	if res := f.do("PUT", la+"/integration/save-key-credentials/keyapp", "a", map[string]any{"key": "k-123"}, hdr...); res.status != 200 {
		t.Fatalf("save keys: %d %s", res.status, res.raw)
	}
	if res := f.do("PUT", "/api/v2/public/config", "a", map[string]any{"slug": "keyapp", "workflows": []any{map[string]any{"id": "push", "enabled": true}}}, hdr...); res.status != 200 {
		t.Fatalf("config: %d %s", res.status, res.raw)
	}
	return f, u
}

func (f *fixture) drainFlows() {
	f.t.Helper()
	if _, err := f.flows.Drain(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
}

// TestEventDefinitions: the reference's routes and the Node SDK's answer
// the same list; names are unique per environment.
func TestEventDefinitions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, _ := newFlowFixture(t, store)
		res := f.do("POST", "/api/v2/public/application/event", "a", map[string]any{"name": "Order Created", "response": `{"id":"o-1","customer":{"email":"a@x"}}`})
		var defs []map[string]any
		mustJSON(t, res.raw, &defs)
		if res.status != 200 || len(defs) != 1 || defs[0]["name"] != "Order Created" || defs[0]["raw_response"] != `{"id":"o-1","customer":{"email":"a@x"}}` {
			t.Fatalf("create: %d %s", res.status, res.raw)
		}
		keys := defs[0]["response"].([]any)
		if len(keys) != 3 || keys[0].(map[string]any)["key"] != "customer" || keys[0].(map[string]any)["type"] != "object" || keys[1].(map[string]any)["key"] != "customer.email" {
			t.Fatalf("keys: %s", res.raw)
		}
		id := defs[0]["_id"].(string)
		if res := f.do("POST", "/api/v2/public/application/event", "a", map[string]any{"name": "Order Created"}); res.status != 400 || res.json["field"] != "name" {
			t.Fatalf("duplicate: %d %s", res.status, res.raw)
		}
		if res := f.do("POST", "/api/v2/public/application/event", "a", map[string]any{"name": "x", "response": "[1]"}); res.status != 400 || res.json["field"] != "response" {
			t.Fatalf("not an object: %d %s", res.status, res.raw)
		}
		for _, p := range []string{"/api/v2/public/application/event/" + id, "/api/v2/public/event/" + id} {
			if res := f.do("GET", p, "a", nil); res.status != 200 || res.json["_id"] != id {
				t.Fatalf("GET %s: %d %s", p, res.status, res.raw)
			}
			if res := f.do("GET", p, "b", nil); res.status != 404 {
				t.Fatalf("GET %s as another org: %d %s", p, res.status, res.raw)
			}
		}
		res = f.do("PUT", "/api/v2/public/application/event/"+id, "a", map[string]any{"name": "Order Placed"})
		mustJSON(t, res.raw, &defs)
		if res.status != 200 || defs[0]["name"] != "Order Placed" || defs[0]["raw_response"] == "{}" {
			t.Fatalf("rename keeps the sample: %d %s", res.status, res.raw)
		}
		if res := f.do("GET", "/api/v2/public/event", "a", nil); res.status != 200 || !strings.Contains(string(res.raw), "Order Placed") {
			t.Fatalf("SDK list: %d %s", res.status, res.raw)
		}
		// The app settings still answer at {slug}/settings; other subpaths do not.
		if res := f.do("GET", "/api/v2/public/application/keyapp/settings", "a", nil); res.status != 200 || res.json["slug"] != "keyapp" {
			t.Fatalf("settings: %d %s", res.status, res.raw)
		}
		if res := f.do("GET", "/api/v2/public/application/keyapp/nope", "a", nil); res.status != 404 {
			t.Fatalf("unknown sub: %d %s", res.status, res.raw)
		}
		if res := f.do("DELETE", "/api/v2/public/event/"+id, "a", nil); res.status != 200 || string(res.raw) != "[]\n" && string(res.raw) != "[]" {
			t.Fatalf("delete: %d %s", res.status, res.raw)
		}
		if res := f.do("DELETE", "/api/v2/public/application/event/"+id, "a", nil); res.status != 404 {
			t.Fatalf("delete again: %d %s", res.status, res.raw)
		}
	})
}

// TestTriggerAndExecutions: an event fired with the Node SDK's request
// shape runs the account's switched-on workflow; its executions read in
// the reference's shapes, secrets kept out of the log.
func TestTriggerAndExecutions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newFlowFixture(t, store)
		hdr := []string{"linked_account_id", "cust"}
		res := f.do("POST", "/api/v2/public/event", "a", map[string]any{"linked_account_id": "cust", "event": "Order Created", "payload": map[string]any{"id": "o-1"}}, hdr...)
		if res.status != 404 || res.json["error"] != "INVALID_EVENT" || res.json["message"] != "Trigger not found" {
			t.Fatalf("undefined event: %d %s", res.status, res.raw)
		}
		f.do("POST", "/api/v2/public/application/event", "a", map[string]any{"name": "Order Created"})
		res = f.do("POST", "/api/v2/public/event?linked_account_id=cust", "a", map[string]any{"linked_account_id": "cust", "event": "Order Created",
			"payload": map[string]any{"id": "o 1/2", "total": 12.5}}, "config_id", "cust")
		ids, _ := res.json["execution_ids"].([]any)
		if res.status != 200 || res.json["message"] != "Webhook Fired Success" || len(ids) != 1 {
			t.Fatalf("trigger: %d %s", res.status, res.raw)
		}
		// trigger is accepted for event; another app's slug runs nothing.
		if res := f.do("POST", "/api/v2/public/event/stripe", "a", map[string]any{"trigger": "Order Created", "payload": map[string]any{}}, hdr...); res.status != 200 || len(res.json["execution_ids"].([]any)) != 0 {
			t.Fatalf("other app: %d %s", res.status, res.raw)
		}
		f.drainFlows()
		id := ids[0].(string)
		got := f.do("GET", "/api/v2/public/execution/"+id, "a", nil, hdr...)
		nodes, _ := got.json["nodes"].([]any)
		if got.status != 200 || got.json["status"] != "COMPLETED" || got.json["execution_source"] != "Event" || got.json["trigger_application_event"] != "Order Created" || len(nodes) != 2 {
			t.Fatalf("execution: %d %s", got.status, got.raw)
		}
		post := nodes[0].(map[string]any)
		in := post["input_data"].(map[string]any)
		if post["node_status"] != "Success" || post["attempts_made"] != float64(1) || in["path"] != "/orders/o%201%2F2" || in["method"] != "POST" {
			t.Fatalf("node: %v", post)
		}
		// (The loopback app echoes the request's headers in its answer; the
		// log of what linkd sent must not hold the key.)
		if b, _ := json.Marshal(in); strings.Contains(string(b), "k-123") {
			t.Fatal("the connection's key is in the step's input")
		}
		ret := got.json["return_value"].(map[string]any)
		if ret["status"] != float64(200) || ret["path"] != "/v1/orders/o 1/2" {
			t.Fatalf("return value: %v", ret)
		}
		seen := u.seen[len(u.seen)-1]
		if seen.Header.Get("X-Key") != "Token k-123" || !strings.HasPrefix(seen.Header.Get("Idempotency-Key"), "linkd-"+id) {
			t.Fatalf("the app saw %v", seen.Header)
		}
		list := f.do("GET", "/api/v2/public/execution?status=COMPLETED&slug=keyapp,other&limit=5", "a", nil, hdr...)
		if list.status != 200 || list.json["totalDocs"] != float64(1) || list.json["page"] != float64(1) || list.json["hasNextPage"] != false {
			t.Fatalf("list: %d %s", list.status, list.raw)
		}
		if res := f.do("GET", "/api/v2/public/execution?status=Bogus", "a", nil, hdr...); res.status != 400 || res.json["field"] != "status" {
			t.Fatalf("bad status: %d %s", res.status, res.raw)
		}
		// Another account of the tenant does not see it.
		f.do("POST", la, "a", map[string]any{"linked_account_id": "other"})
		if res := f.do("GET", "/api/v2/public/execution/"+id, "a", nil, "linked_account_id", "other"); res.status != 404 {
			t.Fatalf("another account: %d %s", res.status, res.raw)
		}
		if res := f.do("GET", "/api/v2/public/execution", f.bearerFor("a", "other"), nil); res.status != 200 || res.json["totalDocs"] != float64(0) {
			t.Fatalf("another account's token: %d %s", res.status, res.raw)
		}

		// Stop a queued run, rerun it.
		res = f.do("POST", "/api/v2/public/event/trigger", "a", map[string]any{"event": "Order Created", "payload": map[string]any{"id": "o-2", "total": 1}}, hdr...)
		id2 := res.json["execution_ids"].([]any)[0].(string)
		if res := f.do("POST", "/api/v2/public/execution/"+id2+"/stop", "a", nil, hdr...); res.status != 200 || res.json["status"] != "STOPPED" {
			t.Fatalf("stop: %d %s", res.status, res.raw)
		}
		re := f.do("POST", "/api/v2/public/execution/"+id2+"/rerun", f.bearerFor("a", "cust"), nil)
		if re.status != 200 || re.json["rerun_of"] != id2 || re.json["status"] != "RUNNING" {
			t.Fatalf("rerun: %d %s", re.status, re.raw)
		}
		f.drainFlows()
		if res := f.do("GET", "/api/v2/public/execution/"+re.json["_id"].(string), "a", nil, hdr...); res.json["status"] != "COMPLETED" {
			t.Fatalf("rerun ran: %s", res.raw)
		}
	})
}

// TestExecuteWorkflow: the Node SDK's executeWorkflow, synchronous, answers
// with the return value.
func TestExecuteWorkflow(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, _ := newFlowFixture(t, store)
		res := f.do("POST", "/api/v1/workflow/push/execute", "a", map[string]any{"id": "o-9", "total": 3}, "linked_account_id", "cust", "slug", "keyapp", "sync_execution", "true")
		ret, _ := res.json["return_value"].(map[string]any)
		if res.status != 200 || res.json["execution_id"] == nil || ret["path"] != "/v1/orders/o-9" || res.json["status"] != "COMPLETED" {
			t.Fatalf("sync: %d %s", res.status, res.raw)
		}
		res = f.do("POST", "/api/v2/public/workflow/push/execute", "a", map[string]any{"id": "o-10"}, "linked_account_id", "cust")
		if res.status != 200 || res.json["execution_id"] == nil || res.json["return_value"] != nil {
			t.Fatalf("async: %d %s", res.status, res.raw)
		}
		for _, c := range []struct {
			path    string
			headers []string
			status  int
			field   string
		}{
			{"/api/v2/public/workflow/nope/execute", []string{"linked_account_id", "cust"}, 404, "workflow_id"},
			{"/api/v2/public/workflow/push/execute", []string{"linked_account_id", "cust", "sync_execution", "maybe"}, 400, "sync_execution"},
			{"/api/v2/public/workflow/push/execute", []string{"linked_account_id", "cust", "config_id", "none"}, 404, "config_id"},
			{"/api/v2/public/workflow/push/execute", []string{"linked_account_id", "ghost"}, 404, ""},
		} {
			res := f.do("POST", c.path, "a", map[string]any{}, c.headers...)
			if field, _ := res.json["field"].(string); res.status != c.status || field != c.field {
				t.Errorf("%s %v: %d %s, want %d naming %s", c.path, c.headers, res.status, res.raw, c.status, c.field)
			}
		}
	})
}
