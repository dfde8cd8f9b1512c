package http_test

import (
	"bytes"
	"testing"
)

func testApplications(t *testing.T, f *fixture) {
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "Customer"})
	hdr := []string{"linked_account_id", "cust"}

	// A fresh test environment offers the key-based apps; OAuth apps wait
	// for client credentials.
	res := f.do("GET", "/api/v2/public/application", "a", nil, hdr...)
	if res.status != 200 {
		t.Fatalf("list apps: %d %s", res.status, res.raw)
	}
	var apps []map[string]any
	mustJSON(t, res.raw, &apps)
	slugs := map[string]bool{}
	for _, a := range apps {
		slugs[a["slug"].(string)] = true
		if a["connected"] != nil {
			t.Fatalf("%s is connected before anything happened", a["slug"])
		}
	}
	if !slugs["stripe"] || !slugs["sendgrid"] || slugs["slack"] {
		t.Fatalf("apps on a fresh install: %v", slugs)
	}
	if res := f.do("GET", "/api/v2/public/application", "aprod", nil, hdr...); res.status != 404 {
		t.Fatalf("apps of an account of another environment: %d", res.status)
	}
	if res := f.do("GET", "/api/v2/public/application", "a", nil); res.status != 400 || res.json["field"] != "linked_account_id" {
		t.Fatalf("no account: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", "/api/v2/public/application/slack", "a", nil, hdr...); res.status != 404 {
		t.Fatalf("unconfigured OAuth app: %d", res.status)
	}

	// Key-based connect: fields checked, secrets never returned.
	save := "/api/v2/public/linked-account/integration/save-key-credentials/stripe"
	for body, field := range map[string]string{`{}`: "secret_key", `{"secret_key":"sk_test_1","nope":"x"}`: "nope", `{"secret_key":5}`: "secret_key"} {
		if res := f.do("PUT", save, "a", body, hdr...); res.status != 400 || res.json["field"] != field {
			t.Errorf("save %s: %d %s, want 400 naming %s", body, res.status, res.raw, field)
		}
	}
	if res := f.do("PUT", save, "a", map[string]any{"secret_key": "sk_test_SECRET123"}, hdr...); res.status != 200 || res.json["success"] != true {
		t.Fatalf("save: %d %s", res.status, res.raw)
	}
	res = f.do("GET", "/api/v2/public/application/stripe", "a", nil, hdr...)
	if res.json["connected"] != true || res.json["reauth_required"] != false {
		t.Fatalf("stripe after save: %s", res.raw)
	}
	acct := f.do("GET", la+"/cust", "a", nil)
	if acct.json["connected_apps"] != float64(1) || len(acct.json["integrations"].([]any)) != 1 {
		t.Fatalf("account after connect: %s", acct.raw)
	}
	for _, r := range []response{res, acct, f.do("GET", "/api/v2/public/audit", "a", nil)} {
		if bytes.Contains(r.raw, []byte("SECRET123")) {
			t.Fatalf("a key came back: %s", r.raw)
		}
	}
	// The same account through the SDK's routes with a session token.
	tok := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "cust"})
	bearer := "Bearer " + tok.json["token"].(string)
	if res := f.do("POST", "/api/v2/app/sendgrid/save", bearer, map[string]any{"api_key": "SG.x", "region": "mars"}); res.status != 400 || res.json["field"] != "region" {
		t.Fatalf("select value outside the options: %d %s", res.status, res.raw)
	}
	if res := f.do("POST", "/api/v2/app/sendgrid/save", bearer, map[string]any{"api_key": "SG.x", "region": "global"}); res.status != 200 {
		t.Fatalf("SDK save: %d %s", res.status, res.raw)
	}
	res = f.do("GET", "/api/v2/f-sdk/application", bearer, nil)
	mustJSON(t, res.raw, &apps)
	connected := 0
	for _, a := range apps {
		if a["connected"] == true {
			connected++
		}
	}
	if connected != 2 {
		t.Fatalf("SDK sees %d connected apps: %s", connected, res.raw)
	}
	// A session token cannot reach another account through the headers.
	f.do("POST", la, "a", map[string]any{"linked_account_id": "victim"})
	f.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/stripe", "a", map[string]any{"secret_key": "sk_v"}, "linked_account_id", "victim")
	if res := f.do("DELETE", "/api/v1/linked-acc/integration/stripe", bearer, nil, "linked_account_id", "victim"); res.status != 200 {
		t.Fatalf("SDK disconnect: %d %s", res.status, res.raw)
	}
	if v := f.do("GET", la+"/victim", "a", nil); v.json["connected_apps"] != float64(1) {
		t.Fatalf("a session token disconnected another account's app: %s", v.raw)
	}
	// Disconnect over the backend API; again is a no-op.
	for range 2 {
		res = f.do("DELETE", "/api/v2/public/linked-account/integration/sendgrid?linked_account_id=cust", "a", nil)
		if res.status != 200 || res.json["connected_apps"] != float64(0) {
			t.Fatalf("disconnect: %d %s", res.status, res.raw)
		}
	}
	if res := f.do("DELETE", "/api/v2/public/linked-account/integration/sendgrid?linked_account_id=cust", "b", nil); res.status != 404 {
		t.Fatalf("disconnect in another tenant: %d", res.status)
	}

	// Settings: enable an OAuth app with client credentials; the secret is
	// write-only.
	res = f.do("PUT", "/api/v2/public/application/slack/settings", "a", map[string]any{"enabled": true, "client_id": "123.456", "client_secret": "shh-SECRET"})
	if res.status != 200 || res.json["available"] != true || res.json["has_client_secret"] != true ||
		res.json["redirect_url"] != "https://linkd.example.com/oauth/callback" || bytes.Contains(res.raw, []byte("shh")) {
		t.Fatalf("settings: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", "/api/v2/public/application/slack", "a", nil, hdr...); res.status != 200 || res.json["auth_type"] != "oauth2" {
		t.Fatalf("slack after settings: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", "/api/v2/public/application/slack/settings", "aprod", nil); res.json["available"] != false {
		t.Fatalf("settings leaked to production: %s", res.raw)
	}
	if res := f.do("PUT", "/api/v2/public/application/stripe/settings", "a", map[string]any{"client_id": "x"}); res.status != 400 {
		t.Fatalf("client id on a key-based app: %d", res.status)
	}
	if res := f.do("PUT", "/api/v2/public/application/slack/settings", bearer, map[string]any{"enabled": false}); res.status != 403 {
		t.Fatalf("a session token changed settings: %d", res.status)
	}
	// Disabling hides the app from accounts not connected to it.
	f.do("PUT", "/api/v2/public/application/stripe/settings", "a", map[string]any{"enabled": false})
	if res := f.do("GET", "/api/v2/public/application/stripe", "a", nil, "linked_account_id", "cust"); res.status != 404 {
		t.Fatalf("disabled app: %d", res.status)
	}
	if res := f.do("GET", "/api/v2/public/application/stripe", "a", nil, "linked_account_id", "victim"); res.status != 200 {
		t.Fatalf("a disabled app must stay visible to an account connected to it: %d", res.status)
	}
}
