package http_test

import "testing"

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
		{"update own", "PUT", la, bearer, map[string]any{"name": "Renamed", "udf": map[string]any{"plan": "pro"}}, 200},
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
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", bearer, nil); res.json["name"] != "Renamed" || res.json["account_id"] != "me" {
		t.Fatalf("whoami after update: %s", res.raw)
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
