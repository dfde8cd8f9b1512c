package http_test

import (
	"testing"
)

// testConfigs drives the config routes as backend code (API key) and as the
// browser SDK (session token) call them.
func testConfigs(t *testing.T, f *fixture) {
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cfg", "name": "Configured"})
	f.do("POST", la, "a", map[string]any{"linked_account_id": "other"})
	hdr := []string{"linked_account_id", "cfg"}
	const cfgURL = "/api/v2/public/config"

	// Get-or-create: the default config id is the account's id; every
	// workflow of the app is listed, off.
	res := f.do("POST", cfgURL, "a", map[string]any{"slug": "stripe"}, hdr...)
	if res.status != 200 || res.json["config_id"] != "cfg" || res.json["slug"] != "stripe" {
		t.Fatalf("POST config: %d %s", res.status, res.raw)
	}
	wfs := res.json["workflows"].([]any)
	if len(wfs) != 2 || wfs[0].(map[string]any)["enabled"] != false {
		t.Fatalf("workflows of a new config: %s", res.raw)
	}
	// Switching a workflow on needs the app connected.
	toggle := "/api/v2/public/slug/stripe/config/cfg/workflows/sync-customers"
	if res := f.do("PATCH", toggle, "a", map[string]any{"enabled": true}, hdr...); res.status != 400 || res.json["field"] != "enabled" {
		t.Fatalf("enable before connecting: %d %s", res.status, res.raw)
	}
	f.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/stripe", "a", map[string]any{"secret_key": "sk_test_1"}, hdr...)
	res = f.do("PATCH", toggle, "a", map[string]any{"enabled": true}, hdr...)
	if res.status != 200 || res.json["workflows"].([]any)[0].(map[string]any)["enabled"] != true {
		t.Fatalf("toggle: %d %s", res.status, res.raw)
	}
	if acct := f.do("GET", la+"/cfg", "a", nil); acct.json["active_workflows"] != float64(1) {
		t.Fatalf("active_workflows after toggle: %s", acct.raw)
	}

	// Bad input names its field and changes nothing.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "nope", "enabled": true}}}, "workflows[0].id"},
		{map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "invoice-paid-alerts", "fields": map[string]any{"events": "charge.refunded"}}}}, "workflows[0].fields.events"},
		{map[string]any{"slug": "stripe", "fields": map[string]any{"nope": 1}}, "fields.nope"},
		{map[string]any{"slug": "stripe", "config_id": " padded "}, "config_id"},
		{map[string]any{"slug": "stripe", "workflows": "all"}, "workflows"},
		{map[string]any{}, "slug"},
	} {
		if res := f.do("PUT", cfgURL, "a", c.body, hdr...); res.status != 400 || res.json["field"] != c.field {
			t.Errorf("PUT %v: %d %s, want 400 naming %s", c.body, res.status, res.raw, c.field)
		}
	}
	if res := f.do("PUT", cfgURL, "a", map[string]any{"slug": "nope"}, hdr...); res.status != 404 {
		t.Errorf("unknown app: %d %s", res.status, res.raw)
	}

	// A workflow with a required field is reported in field_errors until it
	// has a value; values are kept as sent.
	res = f.do("PUT", cfgURL, "a", map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "invoice-paid-alerts", "enabled": true}}}, hdr...)
	if res.status != 200 || len(res.json["field_errors"].([]any)) != 1 {
		t.Fatalf("field_errors: %d %s", res.status, res.raw)
	}
	res = f.do("PUT", cfgURL, "a", map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "invoice-paid-alerts", "fields": map[string]any{"events": "invoice.paid"}}}}, hdr...)
	if res.status != 200 || len(res.json["field_errors"].([]any)) != 0 {
		t.Fatalf("after filling the field: %d %s", res.status, res.raw)
	}
	got := f.do("GET", "/api/v2/public/slug/stripe/config", "a", nil, hdr...)
	wf := got.json["workflows"].([]any)[1].(map[string]any) // catalog order
	if got.status != 200 || wf["id"] != "invoice-paid-alerts" || wf["enabled"] != true || wf["fields"].([]any)[0].(map[string]any)["value"] != "invoice.paid" {
		t.Fatalf("GET config: %d %s", got.status, got.raw)
	}
	// POST on an existing config returns it unchanged.
	if res := f.do("POST", cfgURL, "a", map[string]any{"slug": "stripe", "workflows": []any{map[string]any{"id": "invoice-paid-alerts", "enabled": false}}}, hdr...); res.json["workflows"].([]any)[1].(map[string]any)["enabled"] != true {
		t.Fatalf("POST changed an existing config: %s", res.raw)
	}

	// A second, named config; the list of ids; the enabled workflows.
	f.do("POST", cfgURL, "a", map[string]any{"slug": "stripe", "config_id": "eu", "workflows": []any{map[string]any{"id": "sync-customers", "enabled": true}}}, hdr...)
	list := f.do("GET", "/api/v2/public/slug/stripe/configs", "a", nil, hdr...)
	if list.status != 200 || string(list.raw) == "[]" {
		t.Fatalf("configs: %d %s", list.status, list.raw)
	}
	var ids []map[string]any
	mustJSON(t, list.raw, &ids)
	if len(ids) != 2 || ids[0]["config_id"] != "cfg" || ids[1]["config_id"] != "eu" {
		t.Fatalf("config ids: %s", list.raw)
	}
	var enabled []map[string]any
	mustJSON(t, f.do("GET", "/api/v2/public/workflow/enabled", "a", nil, hdr...).raw, &enabled)
	if len(enabled) != 3 {
		t.Fatalf("enabled workflows: %v", enabled)
	}
	if acct := f.do("GET", la+"/cfg", "a", nil); acct.json["active_workflows"] != float64(3) {
		t.Fatalf("active_workflows: %s", acct.raw)
	}

	// The SDK's routes act on the token's own account only.
	tok := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "other"})
	bearer := "Bearer " + tok.json["token"].(string)
	if res := f.do("GET", "/api/v2/f-sdk/slug/stripe/config/eu", bearer, nil, hdr...); res.status != 404 {
		t.Fatalf("a session token read another account's config: %d %s", res.status, res.raw)
	}
	if res := f.do("POST", "/api/v2/f-sdk/config", bearer, map[string]any{"slug": "stripe"}); res.status != 200 || res.json["config_id"] != "other" {
		t.Fatalf("SDK config: %d %s", res.status, res.raw)
	}
	if res := f.do("DELETE", "/api/v2/f-sdk/slug/stripe/config", bearer, nil); res.status != 200 || res.json["message"] != "Installation Deleted Success" {
		t.Fatalf("SDK delete: %d %s", res.status, res.raw)
	}
	// Other tenants: not found.
	if res := f.do("GET", "/api/v2/public/slug/stripe/config", "b", nil, hdr...); res.status != 404 {
		t.Fatalf("another org read a config: %d", res.status)
	}
	if res := f.do("GET", "/api/v2/public/slug/stripe/config", "aprod", nil, hdr...); res.status != 404 {
		t.Fatalf("another environment read a config: %d", res.status)
	}

	// Delete one config (the Node SDK's trailing-slash form); again → 404.
	if res := f.do("DELETE", "/api/v2/public/slug/stripe/config/eu", "a", nil, hdr...); res.status != 200 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	if res := f.do("DELETE", "/api/v2/public/slug/stripe/config/eu", "a", nil, hdr...); res.status != 404 {
		t.Fatalf("delete again: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", "/api/v2/public/slug/stripe/config/", "a", nil, hdr...); res.status != 200 || res.json["config_id"] != "cfg" {
		t.Fatalf("GET .../config/: %d %s", res.status, res.raw)
	}
	// Disconnecting the app's last connection removes its configs.
	f.do("DELETE", "/api/v2/public/linked-account/integration/stripe", "a", nil, hdr...)
	if res := f.do("GET", "/api/v2/public/slug/stripe/config", "a", nil, hdr...); res.status != 404 {
		t.Fatalf("config after disconnect: %d %s", res.status, res.raw)
	}
	if acct := f.do("GET", la+"/cfg", "a", nil); acct.json["active_workflows"] != float64(0) {
		t.Fatalf("active_workflows after disconnect: %s", acct.raw)
	}
}
