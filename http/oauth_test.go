package http_test

import (
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/oauthtest"
)

// setUpOAuth makes the account cust of key "a" and sets up the provider's
// app (testprov) for its tenant.
func (f *fixture) setUpOAuth() {
	f.t.Helper()
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "Customer"})
	if res := f.do("PUT", "/api/v2/public/application/testprov/settings", "a", map[string]any{"enabled": true,
		"client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret}); res.json["available"] != true {
		f.t.Fatalf("settings: %d %s", res.status, res.raw)
	}
}

// hostedLink makes a hosted connect link for cust and returns its path.
func (f *fixture) hostedLink() string {
	f.t.Helper()
	res := f.do("POST", "/api/v2/public/connect-url", f.bearerFor("a", "cust"), nil)
	u, _ := res.json["hosted_url"].(string)
	path, ok := strings.CutPrefix(u, f.url)
	if res.status != 200 || !ok {
		f.t.Fatalf("connect-url: %d %s", res.status, res.raw)
	}
	return path
}

// connected reports whether cust has a testprov connection.
func (f *fixture) connected() bool {
	f.t.Helper()
	_, conns, err := f.store.Connections(f.t.Context(), linkd.Tenant{OrgID: orgOf(f.t, f, "a"), Env: linkd.EnvTest}, "cust")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range conns {
		if c.Slug == "testprov" {
			return true
		}
	}
	return false
}

// browser is an HTTP client that keeps cookies, as a browser does, and
// stops at redirects so that each step can be looked at.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// follow GETs u with c and the redirects that follow, and returns the
// last response (its body closed) and the URLs visited.
func follow(t *testing.T, c *http.Client, u string) (*http.Response, []string) {
	t.Helper()
	var seen []string
	for range 10 {
		seen = append(seen, u)
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := res.Location()
		if err != nil {
			return res, seen
		}
		u = loc.String()
	}
	t.Fatalf("too many redirects: %v", seen)
	return nil, nil
}

// startHosted presses Connect for testprov on the hosted page in browser
// c and returns where linkd sends the browser (the provider's consent).
func (f *fixture) startHosted(c *http.Client, link string) string {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.url+link+"/oauth/testprov", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, f.provider.AuthorizeURL) {
		f.t.Fatalf("connect on the hosted page: %d %q", res.StatusCode, loc)
	}
	return loc
}

// TestOAuthBoundToStartingBrowser: the consent URL of a flow started on the
// hosted page, handed to someone else, does not land their grant on the
// account; in the browser that started it, it does.
func TestOAuthBoundToStartingBrowser(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newOAuthFixture(t, store)
		f.setUpOAuth()
		link := f.hostedLink()

		// The account's user starts connecting, but copies the consent URL
		// to someone else (or it leaks), whose browser completes it.
		consent := f.startHosted(browser(t), link)
		res, seen := follow(t, browser(t), consent)
		if f.connected() {
			t.Fatalf("another browser's grant landed on the account (visited %v)", seen)
		}
		last := seen[len(seen)-1]
		if !strings.HasPrefix(last, f.url+"/oauth/callback") || res.StatusCode != http.StatusForbidden {
			t.Fatalf("another browser at the callback: %d, visited %v", res.StatusCode, seen)
		}
		for _, u := range seen {
			if strings.Contains(u, link) {
				t.Fatalf("another browser was sent to the hosted link (its credential): %v", seen)
			}
		}

		// In the browser that pressed Connect, the flow completes and
		// comes back to the hosted page.
		b := browser(t)
		res, seen = follow(t, b, f.startHosted(b, link))
		if last := seen[len(seen)-1]; res.StatusCode != 200 || !strings.Contains(last, link+"?") || !strings.Contains(last, "linkd_status=connected") || !f.connected() {
			t.Fatalf("the starting browser: %d, visited %v, connected %v", res.StatusCode, seen, f.connected())
		}
		// The binding cookie is spent with the flow.
		cb, _ := url.Parse(f.url + "/oauth/callback")
		if cs := b.Jar.Cookies(cb); len(cs) != 0 {
			t.Fatalf("cookies left for the callback: %v", cs)
		}
	})
}

// TestOAuthURLParams: a caller may add only the authorize parameters the
// catalog allows for the app, never override the app's own or linkd's.
func TestOAuthURLParams(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newOAuthFixture(t, store)
		f.setUpOAuth()
		bearer := f.bearerFor("a", "cust")
		base := la + "/integration/oauth-url/testprov?linked_account_id=cust"
		for _, p := range []string{"prompt=none", "client_id=evil", "redirect_uri=https%3A%2F%2Fevil.example%2Fcb", "scope=admin", "response_type=token", "access_type=online", "resource=https%3A%2F%2Fevil.example"} {
			name, _, _ := strings.Cut(p, "=")
			for _, path := range []string{base + "&" + p, "/api/v1/testprov/integrate?" + p} {
				key := "a"
				if strings.HasPrefix(path, "/api/v1/") {
					key = bearer
				}
				res := f.do("GET", path, key, nil)
				if res.status != 400 || res.json["field"] != name || !strings.Contains(res.json["message"].(string), name) {
					t.Errorf("GET %s: %d %s; want 400 naming %s", path, res.status, res.raw, name)
				}
			}
		}
		// Without parameters (as the SDK calls it) it works.
		for _, c := range []struct{ path, key string }{{base, "a"}, {"/api/v1/testprov/integrate?", bearer}} {
			res := f.do("GET", c.path, c.key, nil)
			u, _ := res.json["auth_url"].(string)
			if res.status != 200 || !strings.HasPrefix(u, f.provider.AuthorizeURL) {
				t.Fatalf("GET %s: %d %s", c.path, res.status, res.raw)
			}
		}
	})
}

// consentState returns the state parameter of a consent URL.
func consentState(t *testing.T, consent string) string {
	t.Helper()
	u, err := url.Parse(consent)
	if err != nil || u.Query().Get("state") == "" {
		t.Fatalf("consent URL %q", consent)
	}
	return u.Query().Get("state")
}

// TestOAuthCallbackPage: the page the provider sends the customer back to
// has a strict CSP (its one script carries a nonce), cannot be framed,
// shows fixed words for a provider's error rather than the provider's (or
// anyone's) text from the URL, and posts its message only to the origin
// that asked for the consent URL, never to "*".
func TestOAuthCallbackPage(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newOAuthFixture(t, store)
		f.setUpOAuth()
		bearer := f.bearerFor("a", "cust")
		const opener = "http://localhost:3000"
		consentFrom := func(origin string) string {
			t.Helper()
			headers := []string{}
			if origin != "" {
				headers = append(headers, "Origin", origin)
			}
			res := f.do("GET", "/api/v1/testprov/integrate", bearer, nil, headers...)
			u, _ := res.json["auth_url"].(string)
			if res.status != 200 || u == "" {
				t.Fatalf("integrate: %d %s", res.status, res.raw)
			}
			return u
		}
		callback := func(q url.Values) response {
			t.Helper()
			return f.do("GET", "/oauth/callback?"+q.Encode(), "", nil)
		}
		checkHeaders := func(res response) {
			t.Helper()
			csp := res.header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'nonce-", "style-src 'nonce-", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
				t.Errorf("CSP %q is not strict", csp)
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			// Every script and style element carries the header's nonce.
			_, nonce, _ := strings.Cut(csp, "script-src 'nonce-")
			nonce, _, _ = strings.Cut(nonce, "'")
			body := html.UnescapeString(string(res.raw)) // attributes escape the nonce's + and /
			if nonce == "" || strings.Count(body, "<script") != strings.Count(body, `<script nonce="`+nonce+`"`) ||
				strings.Count(body, "<style") != strings.Count(body, `<style nonce="`+nonce+`"`) {
				t.Errorf("an element without the nonce %q:\n%s", nonce, body)
			}
		}

		// Connected, from a page on an allowed origin: the message goes to
		// that origin only.
		res, seen := follow(t, browser(t), consentFrom(opener))
		if res.StatusCode != 200 || !f.connected() {
			t.Fatalf("connect: %d %v", res.StatusCode, seen)
		}
		// Replayed, the spent state shows an error page, as strict.
		last := f.do("GET", strings.TrimPrefix(seen[len(seen)-1], f.url), "", nil)
		if last.status != 400 {
			t.Fatalf("replayed callback: %d %s", last.status, last.raw)
		}
		checkHeaders(last)

		// A fresh flow, stopped at the callback to read the page itself.
		noFollow := browser(t)
		consent := consentFrom(opener)
		pr, err := noFollow.Get(consent)
		if err != nil {
			t.Fatal(err)
		}
		pr.Body.Close()
		cbURL, _ := pr.Location()
		ok := f.do("GET", strings.TrimPrefix(cbURL.String(), f.url), "", nil)
		body := string(ok.raw)
		if ok.status != 200 || !strings.Contains(body, "Connected to Test Provider") {
			t.Fatalf("callback: %d %s", ok.status, body)
		}
		checkHeaders(ok)
		if !strings.Contains(body, `postMessage({linkd: "connected", slug: "testprov"}, "`+opener+`")`) || strings.Contains(body, `"*"`) {
			t.Fatalf("the message is not posted to the starting origin only:\n%s", body)
		}
		// A URL asked for without an Origin (by a backend) posts nothing.
		noFollow = browser(t)
		pr, err = noFollow.Get(consentFrom(""))
		if err != nil {
			t.Fatal(err)
		}
		pr.Body.Close()
		cbURL, _ = pr.Location()
		if ok := f.do("GET", strings.TrimPrefix(cbURL.String(), f.url), "", nil); ok.status != 200 || strings.Contains(string(ok.raw), "postMessage") {
			t.Fatalf("callback of a flow without an origin: %d %s", ok.status, ok.raw)
		}

		// A provider's error: fixed words for a known code, with the code;
		// nothing of the description, which anyone can write in the URL.
		const lure = "Your account is locked. Call +1-555-0100 now"
		for _, c := range []struct{ code, want string }{
			{"access_denied", "access_denied"},
			{"temporarily_unavailable", "temporarily_unavailable"},
			{"<b>evil</b>_code", ""},
		} {
			q := url.Values{"state": {consentState(t, consentFrom(opener))}, "error": {c.code}, "error_description": {lure}, "error_uri": {"https://evil.example/help"}}
			res := callback(q)
			body := string(res.raw)
			if res.status != 400 || strings.Contains(body, "Call +1-555") || strings.Contains(body, "locked") || strings.Contains(body, "evil") ||
				strings.Contains(body, "postMessage") {
				t.Fatalf("provider error %q: %d\n%s", c.code, res.status, body)
			}
			if c.want != "" && !strings.Contains(body, c.want) {
				t.Fatalf("provider error %q: the page does not name the code:\n%s", c.code, body)
			}
			checkHeaders(res)
		}

		// The same through the hosted page: the notice it shows after the
		// callback holds no provider text either, and the page shows no
		// text put in its own URL.
		link := f.hostedLink()
		b := browser(t)
		state := consentState(t, f.startHosted(b, link))
		res, seen = follow(t, b, f.url+"/oauth/callback?"+url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {lure}}.Encode())
		back := f.do("GET", strings.TrimPrefix(seen[len(seen)-1], f.url), "", nil)
		if res.StatusCode != 200 || !strings.Contains(string(back.raw), "Could not connect to Test Provider") || strings.Contains(string(back.raw), "Call +1-555") ||
			strings.Contains(seen[len(seen)-1], "555") {
			t.Fatalf("hosted page after a provider error: %d %v\n%s", res.StatusCode, seen, back.raw)
		}
		forged := f.do("GET", link+"?"+url.Values{"linkd_status": {"error"}, "linkd_error": {lure}, "slug": {"testprov"}}.Encode(), "", nil)
		if forged.status != 200 || strings.Contains(string(forged.raw), "Call +1-555") {
			t.Fatalf("the hosted page shows text from its URL: %d\n%s", forged.status, forged.raw)
		}
	})
}
