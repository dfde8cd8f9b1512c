package http_test

import (
	"strings"
	"testing"
)

func testSessionTokens(t *testing.T, f *fixture) {
	f.do("POST", la, "a", map[string]any{"linked_account_id": "me", "name": "Me"})
	f.do("POST", la, "a", map[string]any{"linked_account_id": "other", "name": "Other"})
	res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "me"})
	if res.status != 200 || res.json["expires_in"] != float64(86400) || res.json["refresh_expires_in"] != float64(86400*30) {
		t.Fatalf("issue: %d %s", res.status, res.raw)
	}
	token, refresh := res.json["token"].(string), res.json["refresh_token"].(string)
	bearer := "Bearer " + token

	for _, c := range []struct {
		name, method, path, key string
		body                    any
		status                  int
	}{
		{"no account", "POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "nobody"}, 404},
		{"other tenant's account", "POST", "/api/v2/public/session-token", "b", map[string]any{"linked_account_id": "me"}, 404},
		{"no id", "POST", "/api/v2/public/session-token", "a", map[string]any{}, 400},
		{"whoami", "GET", "/api/v2/public/session/active-linked-account", bearer, nil, 200},
		{"own account", "GET", la + "/me", bearer, nil, 200},
		{"another account", "GET", la + "/other", bearer, nil, 404},
		{"list is org-admin", "GET", la, bearer, nil, 403},
		{"delete is org-admin", "DELETE", la + "/me", bearer, nil, 403},
		{"audit is org-admin", "GET", "/api/v2/public/audit", bearer, nil, 403},
		// By default a session token changes nothing of its account
		// (issue 9, item 10); see testSessionTokenRename for the setting.
		{"update own", "PUT", la, bearer, map[string]any{"name": "Renamed", "udf": map[string]any{"plan": "pro"}}, 403},
		{"rename own by default", "PUT", la, bearer, map[string]any{"name": "Renamed"}, 403},
		{"settings are org-admin", "GET", "/api/v2/public/org/settings", bearer, nil, 403},
		{"settings change is org-admin", "PUT", "/api/v2/public/org/settings", bearer, map[string]any{"session_token_may_rename": true}, 403},
		{"update another", "PUT", la, bearer, map[string]any{"linked_account_id": "other", "name": "Hijack"}, 404},
		{"garbage token", "GET", "/api/v2/public/session/active-linked-account", "Bearer st_nope", nil, 401},
		{"no token", "GET", "/api/v2/public/session/active-linked-account", "", nil, 401},
	} {
		res := f.do(c.method, c.path, c.key, c.body)
		if res.status != c.status {
			t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, res.status, res.raw, c.status)
		}
	}
	if res := f.do("GET", la+"/other", "a", nil); res.json["name"] != "Other" {
		t.Fatalf("a session token changed another account: %s", res.raw)
	}
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", bearer, nil); res.json["name"] != "Me" || res.json["account_id"] != "me" {
		t.Fatalf("whoami after refused updates: %s", res.raw)
	}

	// A refresh token gives a new pair once, and only to its own tenant.
	if res := f.do("POST", "/api/v2/public/session-token", "b", map[string]any{"refresh_token": refresh}); res.status != 400 {
		t.Fatalf("refresh in another tenant: %d", res.status)
	}
	res = f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"refresh_token": refresh})
	if res.status != 200 || res.json["token"] == token {
		t.Fatalf("refresh: %d %s", res.status, res.raw)
	}
	fresh := "Bearer " + res.json["token"].(string)
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", bearer, nil); res.status != 401 {
		t.Fatalf("the refreshed-away token still works: %d", res.status)
	}
	if res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"refresh_token": refresh}); res.status != 400 {
		t.Fatalf("a refresh token worked twice: %d", res.status)
	}

	// Revoking takes effect at once.
	res = f.do("POST", "/api/v2/public/session-token/revoke", fresh, nil)
	if res.status != 200 || res.json["revoked_count"] != float64(1) {
		t.Fatalf("revoke: %d %s", res.status, res.raw)
	}
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", fresh, nil); res.status != 401 || res.json["error"] != "INVALID_TOKEN" {
		t.Fatalf("revoked token: %d %s", res.status, res.raw)
	}

	// Deleting the account invalidates its tokens.
	res = f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "me"})
	last := "Bearer " + res.json["token"].(string)
	f.do("DELETE", la+"/me", "a", nil)
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", last, nil); res.status != 401 {
		t.Fatalf("a deleted account's token: %d", res.status)
	}
}

// testSessionTokenRename: the org setting session_token_may_rename lets a
// session token change its own account's name, never its UDFs or
// your_app.auth_credentials; the setting is per environment and off by
// default (issue 9, item 10).
func testSessionTokenRename(t *testing.T, f *fixture) {
	f.do("POST", la, "a", map[string]any{"linked_account_id": "me", "name": "Me", "udf": map[string]any{"plan": "free"}})
	bearer := f.bearerFor("a", "me")
	if res := f.do("GET", "/api/v2/public/org/settings", "a", nil); res.status != 200 || res.json["session_token_may_rename"] != false {
		t.Fatalf("default settings: %d %s", res.status, res.raw)
	}
	if res := f.do("PUT", la, bearer, map[string]any{"name": "Renamed"}); res.status != 403 {
		t.Fatalf("rename before the setting: %d %s", res.status, res.raw)
	}
	for _, bad := range []any{map[string]any{"session_token_may_rename": "yes"}, "[]"} {
		if res := f.do("PUT", "/api/v2/public/org/settings", "a", bad); res.status != 400 {
			t.Fatalf("bad settings %v: %d %s", bad, res.status, res.raw)
		}
	}
	res := f.do("PUT", "/api/v2/public/org/settings", "a", map[string]any{"session_token_may_rename": true})
	if res.status != 200 || res.json["session_token_may_rename"] != true || res.json["updated_at"] == nil {
		t.Fatalf("turn on: %d %s", res.status, res.raw)
	}
	// The production environment's setting is its own.
	if res := f.do("GET", "/api/v2/public/org/settings", "aprod", nil); res.json["session_token_may_rename"] != false {
		t.Fatalf("production follows test: %s", res.raw)
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"udf", map[string]any{"name": "X", "udf": map[string]any{"plan": "enterprise"}}, 403, "udf"},
		{"udf removal", map[string]any{"udf": map[string]any{"plan": nil}}, 403, "udf"},
		{"credentials", map[string]any{"your_app": map[string]any{"auth_credentials": map[string]any{"k": "v"}}}, 403, "your_app.auth_credentials"},
		{"nothing", map[string]any{}, 400, "name"},
		{"bad name", map[string]any{"name": "a\u0007b"}, 400, "name"},
		{"name", map[string]any{"name": "Renamed"}, 200, ""},
	} {
		res := f.do("PUT", la, bearer, c.body)
		if res.status != c.status || (c.field != "" && res.json["field"] != c.field) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, res.status, res.raw, c.status, c.field)
		}
	}
	res = f.do("GET", la+"/me", "a", nil)
	udf, _ := res.json["udf"].([]any)
	if res.json["name"] != "Renamed" || len(udf) != 1 || udf[0].(map[string]any)["key_value"] != "free" || res.json["has_auth_credentials"] != false {
		t.Fatalf("after the session token's updates: %s", res.raw)
	}
	audit := f.do("GET", "/api/v2/public/audit", "a", nil)
	if !strings.Contains(string(audit.raw), "org.settings.update") {
		t.Fatalf("the settings change is not audited: %s", audit.raw)
	}
}
