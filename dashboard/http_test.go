package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestAccessHTTP covers sign-in without a browser: redirects to setup and
// login, cookie flags, cross-origin refusal, rate limiting, logout.
func TestAccessHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		c := e.client()

		// A fresh install sends visitors to setup, and setup to the list.
		resp, err := c.Get(e.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/setup" {
			t.Fatalf("/ redirects to %q, want /setup", loc)
		}
		// A weak password is refused with the reason, next to the field.
		for pw, why := range map[string]string{"          ": "only spaces", "aaaaaaaaaa": "repeats", "1234567890": "most common"} {
			resp = e.post(c, "/setup", url.Values{"code": {e.setupCode}, "email": {"ada@example.com"}, "password": {pw}, "password2": {pw}}, e.url)
			if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, why) || !strings.Contains(b, `id="password_err"`) {
				t.Fatalf("setup with password %q: %d\n%s", pw, resp.StatusCode, b)
			}
		}
		resp = e.post(c, "/setup", url.Values{"code": {"setup-wrong"}, "email": {"ada@example.com"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}, e.url)
		if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "setup code is not valid") || !strings.Contains(b, `value="ada@example.com"`) {
			t.Fatalf("wrong code: %d\n%s", resp.StatusCode, b)
		}
		resp = e.post(c, "/setup", url.Values{"code": {e.setupCode}, "email": {"Ada@Example.com"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		var sess *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "linkd_session" {
				sess = ck
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.Path != "/" || sess.MaxAge <= 0 {
			t.Fatalf("session cookie = %+v", sess)
		}
		if !strings.HasPrefix(sess.Value, "ds_") {
			t.Fatalf("cookie value %q", sess.Value)
		}
		// The code is used up.
		resp = e.post(e.client(), "/setup", url.Values{"code": {e.setupCode}, "email": {"eve@example.com"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}, e.url)
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a used setup code created a second user")
		}
		body(t, resp)

		// Signed in: the list renders with the organization's name.
		resp, _ = c.Get(e.url + "/accounts")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Acme Inc.") || !strings.Contains(b, "No linked accounts yet") {
			t.Fatalf("list page:\n%s", b)
		}
		// Content-Security-Policy forbids inline script.
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("CSP = %q", csp)
		}

		// A form posted from another site is refused, with or without
		// Sec-Fetch-Site; the same form from this site goes through.
		resp = e.post(c, "/env", url.Values{"env": {"production"}}, "https://evil.example")
		wantStatus(t, resp, http.StatusForbidden)
		body(t, resp)
		req, _ := http.NewRequest("POST", e.url+"/env", strings.NewReader("env=production"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, _ = c.Do(req)
		wantStatus(t, resp, http.StatusForbidden)
		body(t, resp)
		sessions := func() linkd.Environment {
			ds, err := e.store.DashboardSessionByHash(t.Context(), linkd.HashAPIKey(sess.Value))
			if err != nil {
				t.Fatal(err)
			}
			return ds.Env
		}
		if env := sessions(); env != linkd.EnvTest {
			t.Fatalf("a cross-origin POST switched the environment to %s", env)
		}
		resp = e.post(c, "/env", url.Values{"env": {"production"}, "back": {"/accounts"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if env := sessions(); env != linkd.EnvProduction {
			t.Fatalf("environment = %s after switching", env)
		}

		// Without JavaScript, "Add field" and "Remove" are round trips
		// that keep what was typed.
		resp = e.post(c, "/accounts/new", url.Values{"linked_account_id": {"x-1"}, "name": {"X"}, "udf_key": {"plan"}, "udf_value": {"pro"}, "action": {"add_udf"}}, e.url)
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, `id="udf_key_1"`) || !strings.Contains(b, `value="plan"`) || !strings.Contains(b, `value="x-1"`) {
			t.Fatalf("add field without JS:\n%s", b)
		}
		resp = e.post(c, "/accounts/new", url.Values{"linked_account_id": {"x-1"}, "udf_key": {"plan", "seats"}, "udf_value": {"pro", "5"}, "action": {"remove_udf:0"}}, e.url)
		if b := body(t, resp); strings.Contains(b, `value="plan"`) || !strings.Contains(b, `value="seats"`) {
			t.Fatalf("remove field without JS:\n%s", b)
		}
		// A repeated UDF name is an inline error on its row, nothing is created.
		resp = e.post(c, "/accounts/new", url.Values{"linked_account_id": {"x-1"}, "udf_key": {"plan", "plan"}, "udf_value": {"pro", "basic"}, "action": {"create"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "already on row 1") {
			t.Fatalf("duplicate UDF name:\n%s", b)
		}
		if _, err := e.store.FindAccount(t.Context(), linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, "x-1"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("x-1: %v", err)
		}
		// Unknown pages are a 404 in the signed-in layout.
		resp, _ = c.Get(e.url + "/account/no-such-account")
		wantStatus(t, resp, http.StatusNotFound)
		if b := body(t, resp); !strings.Contains(b, "Sign out") {
			t.Fatalf("404 page:\n%s", b)
		}
		resp, _ = c.Get(e.url + "/no/such/page")
		wantStatus(t, resp, http.StatusNotFound)
		if b := body(t, resp); !strings.Contains(b, "Sign out") {
			t.Fatalf("404 page:\n%s", b)
		}
		resp, _ = c.Get(e.url + "/static/app.js")
		wantStatus(t, resp, http.StatusOK)
		body(t, resp)

		// Logout deletes the session in the database.
		resp = e.post(c, "/logout", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if _, err := e.store.DashboardSessionByHash(t.Context(), linkd.HashAPIKey(sess.Value)); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("session after logout: %v", err)
		}
		// The old cookie no longer works even if a browser kept it.
		c2 := e.client()
		req, _ = http.NewRequest("GET", e.url+"/accounts", nil)
		req.AddCookie(sess)
		resp, _ = c2.Do(req)
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
			t.Fatalf("after logout /accounts redirects to %q", loc)
		}

		// Sign-in attempts are limited per email (and address); the limit
		// is in the database, and a correct password does not lift it.
		// The clock stands still, so that the 1 s backoff after the free
		// attempts cannot pass on a slow machine before the next one.
		e.signInClock.stop(t)
		for i := range linkd.LoginFreeAttempts {
			resp = e.login(c, "ada@example.com", "wrong password "+string(rune('a'+i)))
			wantStatus(t, resp, http.StatusUnauthorized)
			if b := body(t, resp); !strings.Contains(b, "do not match") {
				t.Fatalf("failure %d:\n%s", i, b)
			}
		}
		resp = e.login(c, "ada@example.com", "correct horse battery")
		wantStatus(t, resp, http.StatusTooManyRequests)
		if b := body(t, resp); !strings.Contains(b, "Too many failed sign-ins for ada@example.com") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("refused sign-in: Retry-After %q\n%s", resp.Header.Get("Retry-After"), b)
		}
		if got := throttles(t, e.store, "email:ada@example.com"); got[0].Attempts != linkd.LoginFreeAttempts {
			t.Fatalf("stored throttle = %+v", got)
		}
		// Another user is not affected; a success clears the count.
		e.user("bob@example.com", "bob's long password")
		resp = e.login(c, "bob@example.com", "bob's long password")
		wantStatus(t, resp, http.StatusSeeOther)
		clearThrottle(t, e.store, "email:ada@example.com")
		resp = e.login(e.client(), "ada@example.com", "correct horse battery")
		wantStatus(t, resp, http.StatusSeeOther)
	})
}

// throttles reads the sign-in throttles of keys.
func throttles(t *testing.T, s linkd.Store, keys ...string) []linkd.LoginThrottle {
	t.Helper()
	var got []linkd.LoginThrottle
	err := s.UpdateLoginThrottles(t.Context(), keys, time.Time{}, func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		got = cur
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// clearThrottle forgets a throttle key, as if its window had passed.
func clearThrottle(t *testing.T, s linkd.Store, key string) {
	t.Helper()
	err := s.UpdateLoginThrottles(t.Context(), []string{key}, time.Time{}, func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		return []linkd.LoginThrottle{{}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
