package http_test

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// testIsolationEveryRoute calls every API route the server registers, with
// the victim's identifiers in the path, headers and body, as callers who
// must not reach the victim's data: another organization's key, another
// environment's key, a session token of another account of the same tenant,
// and a session token of another organization's account. None of them may
// see anything of the victim (its name, user-defined field, internal id) or
// change it: the victim's state read with its own key is the same before and
// after. Routes added later are covered without touching this test.
func testIsolationEveryRoute(t *testing.T, f *fixture) {
	const (
		name   = "Victim Corp 7f3a9e"
		marker = "S3CR3T-UDF-51c2"
	)
	hdr := []string{"linked_account_id", "victim"}
	if res := f.do("POST", la, "a", map[string]any{"linked_account_id": "victim", "name": name, "udf": map[string]any{"marker": marker},
		"your_app": map[string]any{"auth_credentials": map[string]any{"api_token": "tok-" + marker}}}); res.status != 200 {
		t.Fatalf("create victim: %d %s", res.status, res.raw)
	}
	f.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/stripe", "a", map[string]any{"secret_key": "sk_test_" + marker}, hdr...)
	f.do("PUT", "/api/v2/public/config", "a", map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "sync-customers", "enabled": true}}}, hdr...)
	imp := f.do("POST", la+"/import?file_name=v.csv", "a", []byte("linked_account_id,name\nv-imported,"+name+"\n"))
	if imp.status != 202 && imp.status != 200 {
		t.Fatalf("import: %d %s", imp.status, imp.raw)
	}
	jobID, _ := imp.json["_id"].(string)
	f.runJobs()
	victimPK, _ := f.do("GET", la+"/victim", "a", nil).json["_id"].(string)
	if victimPK == "" || jobID == "" {
		t.Fatalf("setup: victim _id %q, job id %q", victimPK, jobID)
	}
	// The tenant's webhook: its description carries the marker, so an
	// answer showing it to an attacker is caught like the account's data.
	hook := f.do("POST", "/api/v2/public/webhook", "a", map[string]any{"webhook_url": "https://hooks.example.com/victim",
		"webhook_events": []string{"Connection Created"}, "description": marker})
	hookID, _ := hook.json["_id"].(string)
	if hookID == "" {
		t.Fatalf("create webhook: %d %s", hook.status, hook.raw)
	}
	// A delivery of it (a test event), for the delivery log's routes.
	sent := f.do("POST", "/api/v2/public/webhook/"+hookID+"/test", "a", nil)
	deliveryID, _ := sent.json["event_id"].(string)
	if deliveryID == "" {
		t.Fatalf("test webhook: %d %s", sent.status, sent.raw)
	}

	// A run of the victim's workflow, started by an event of the tenant.
	evDefs := f.do("POST", "/api/v2/public/application/event", "a", map[string]any{"name": "Customer Lookup", "response": map[string]any{"email": marker}})
	var eventDefID string
	var defs []map[string]any
	mustJSON(t, evDefs.raw, &defs)
	if len(defs) == 1 {
		eventDefID, _ = defs[0]["_id"].(string)
	}
	fired := f.do("POST", "/api/v2/public/event/trigger", "a", map[string]any{"event": "Customer Lookup", "payload": map[string]any{"email": marker}}, hdr...)
	execIDs, _ := fired.json["execution_ids"].([]any)
	if eventDefID == "" || len(execIDs) != 1 {
		t.Fatalf("setup: event %d %s; trigger %d %s", evDefs.status, evDefs.raw, fired.status, fired.raw)
	}
	executionID := execIDs[0].(string)

	// The victim's state, read with its own key.
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{la + "/victim", "/api/v2/public/application/stripe?linked_account_id=victim",
			"/api/v2/public/slug/stripe/config?linked_account_id=victim", la + "/import/" + jobID, "/api/v2/public/audit?linked_account_id=victim&limit=1000",
			"/api/v2/public/webhook/" + hookID, "/api/v2/public/webhook",
			"/api/v2/public/webhook/" + hookID + "/deliveries/" + deliveryID, "/api/v2/public/webhook/" + hookID + "/deliveries",
			"/api/v2/public/event", "/api/v2/public/execution?linked_account_id=victim", "/api/v2/public/execution/" + executionID + "?linked_account_id=victim"} {
			res := f.do("GET", p, "a", nil)
			fmt.Fprintf(&b, "%s %d %s\n", p, res.status, res.raw)
		}
		return b.String()
	}
	f.do("POST", la, "a", map[string]any{"linked_account_id": "neighbour"})
	f.do("POST", la, "b", map[string]any{"linked_account_id": "stranger"})
	bearer := func(key, id string) string {
		res := f.do("POST", "/api/v2/public/session-token", key, map[string]any{"linked_account_id": id})
		tok, _ := res.json["token"].(string)
		if tok == "" {
			t.Fatalf("session token for %s: %d %s", id, res.status, res.raw)
		}
		return "Bearer " + tok
	}
	attackers := map[string]string{
		"other organization":   "b",
		"other environment":    "aprod",
		"neighbour's token":    bearer("a", "neighbour"),
		"other org's token":    bearer("b", "stranger"),
		"revoked key":          "revoked",
		"no credential at all": "",
		"malformed credential": "lk_test_not-a-real-key",
		"malformed bearer":     "Bearer st_forged",
	}
	before := snapshot()
	if !strings.Contains(before, marker) || !strings.Contains(before, `"enabled":true`) {
		t.Fatalf("the snapshot does not show the victim's data: %s", before)
	}

	fill := strings.NewReplacer("{linked_account_id}", "victim", "{slug}", "stripe", "{config_id}", "victim",
		"{workflow_id}", "sync-customers", "{job_id}", jobID, "{$}", "", "{id}", hookID,
		"{path...}", "v1/customers", "{delivery_id}", deliveryID, "{sub}", "settings", "{event_id}", eventDefID, "{execution_id}", executionID)
	body := map[string]any{"linked_account_id": "victim", "name": "hijacked", "slug": "stripe", "config_id": "victim",
		"enabled": false, "secret_key": "sk_attacker", "workflows": []any{map[string]any{"id": "sync-customers", "enabled": false}},
		"udf": map[string]any{"marker": "overwritten"}}
	calls := 0
	// Revoking a session token ends the attackers' tokens: that route goes
	// last, so the others are tried with live tokens.
	patterns := append([]string(nil), f.patterns...)
	sort.SliceStable(patterns, func(i, j int) bool {
		return !strings.HasSuffix(patterns[i], "/revoke") && strings.HasSuffix(patterns[j], "/revoke")
	})
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		if strings.Contains(fill.Replace(path), "{") {
			t.Errorf("%s: a path wildcard this test does not know; teach it", pattern)
			continue
		}
		path = fill.Replace(path)
		for who, cred := range attackers {
			var b any
			if method != "GET" && method != "DELETE" {
				b = body
			}
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			res := f.do(method, path+sep+"linked_account_id=victim", cred, b, hdr...)
			calls++
			for _, secret := range []string{name, marker, victimPK} {
				if bytes.Contains(res.raw, []byte(secret)) {
					t.Errorf("%s as %s: the answer (%d) shows the victim's %q: %s", pattern, who, res.status, secret, res.raw)
				}
			}
			if res.status >= 500 {
				t.Errorf("%s as %s: %d %s", pattern, who, res.status, res.raw)
			}
		}
	}
	if calls < 100 {
		t.Fatalf("only %d calls: the route list is not what this test expects", calls)
	}
	f.runJobs()
	if after := snapshot(); after != before {
		b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Errorf("the victim's state changed:\nbefore: %s\nafter:  %s", b[i], a[i])
			}
		}
	}
}
