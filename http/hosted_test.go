package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

func TestHosted(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		t.Run("ConnectURL", func(t *testing.T) { testConnectURL(t, newFixture(t, store, 0)) })
		t.Run("CORS", func(t *testing.T) { testCORS(t, newFixture(t, store, 0)) })
		t.Run("Page", func(t *testing.T) { testHostedPage(t, newFixture(t, store, 0)) })
	})
}

// bearerFor makes the account (if needed) with the named key and returns a
// session token for it, as "Bearer …".
func (f *fixture) bearerFor(key, accountID string) string {
	f.t.Helper()
	f.do("POST", la, key, map[string]any{"linked_account_id": accountID, "name": "Name of " + accountID})
	res := f.do("POST", "/api/v2/public/session-token", key, map[string]any{"linked_account_id": accountID})
	if res.status != 200 {
		f.t.Fatalf("session token for %s: %d %s", accountID, res.status, res.raw)
	}
	return "Bearer " + res.json["token"].(string)
}

// connectURL makes a hosted URL and returns its token.
func (f *fixture) connectURL(bearer string, props any) string {
	f.t.Helper()
	res := f.do("POST", "/api/v2/public/connect-url", bearer, props)
	if res.status != 200 {
		f.t.Fatalf("connect-url: %d %s", res.status, res.raw)
	}
	u := res.json["hosted_url"].(string)
	token, ok := strings.CutPrefix(u, "https://linkd.example.com/connect/")
	if !ok || !linkd.LooksLikeConnectToken(token) {
		f.t.Fatalf("hosted_url %q", u)
	}
	return token
}

func testConnectURL(t *testing.T, f *fixture) {
	bearer := f.bearerFor("a", "cust")
	other := f.bearerFor("a", "other")
	bearerB := f.bearerFor("b", "cust") // the same id in another organization

	// Allowed origins: normalized, deduplicated, sorted; per environment.
	res := f.do("PUT", "/api/v2/public/org/allowed-origins", "a", map[string]any{"allowed_origins": []string{"https://App.Example.com:443", "https://app.example.com", "http://localhost:3000/"}})
	if res.status != 200 {
		t.Fatalf("put origins: %d %s", res.status, res.raw)
	}
	match(t, "put origins", res.json, map[string]any{"allowed_origins": []string{"http://localhost:3000", "https://app.example.com"}})
	if imp := res.json["implicit_origins"].([]any); len(imp) == 0 || imp[0] != "https://linkd.example.com" {
		t.Fatalf("implicit origins: %v", imp)
	}
	for _, c := range []struct {
		name, method, key string
		body              any
		status            int
		field             string
	}{
		{"path in origin", "PUT", "a", map[string]any{"allowed_origins": []string{"https://ok.example", "https://x.example/path"}}, 400, "allowed_origins[1]"},
		{"wildcard", "PUT", "a", map[string]any{"allowed_origins": []string{"https://*.example.com"}}, 400, "allowed_origins[0]"},
		{"not http", "PUT", "a", map[string]any{"allowed_origins": []string{"chrome-extension://abc"}}, 400, "allowed_origins[0]"},
		{"missing list", "PUT", "a", map[string]any{}, 400, "allowed_origins"},
		{"not a list", "PUT", "a", map[string]any{"allowed_origins": "https://a.example"}, 400, "allowed_origins"},
		{"session token may not", "PUT", bearer, map[string]any{"allowed_origins": []string{}}, 403, "Authorization"},
		{"session token may not read", "GET", bearer, nil, 403, "Authorization"},
		{"no key", "GET", "", nil, 401, "x-api-key"},
	} {
		res := f.do(c.method, "/api/v2/public/org/allowed-origins", c.key, c.body)
		if res.status != c.status || res.json["field"] != c.field {
			t.Errorf("%s: %d %s, want %d naming %s", c.name, res.status, res.raw, c.status, c.field)
		}
	}
	if res := f.do("GET", "/api/v2/public/org/allowed-origins", "a", nil); len(res.json["allowed_origins"].([]any)) != 2 {
		t.Fatalf("a refused put changed the list: %s", res.raw)
	}
	for _, key := range []string{"b", "aprod"} {
		res := f.do("GET", "/api/v2/public/org/allowed-origins", key, nil)
		if res.status != 200 || len(res.json["allowed_origins"].([]any)) != 0 {
			t.Fatalf("another tenant (%s) sees the list: %s", key, res.raw)
		}
	}
	if res := f.do("GET", "/api/v2/public/org/allowed-origins", "aprod", nil); strings.Contains(string(res.raw), "localhost") {
		t.Fatalf("loopback is implicit in production: %s", res.raw)
	}
	audit := f.do("GET", "/api/v2/public/audit", "a", nil)
	if docs := audit.json["docs"].([]any); len(docs) == 0 || docs[0].(map[string]any)["action"] != "org.allowed_origins" {
		t.Fatalf("the change is not audited: %s", audit.raw)
	}

	// Connect URLs: any JSON object; redirect_url only to allowed origins.
	props := map[string]any{"name": "Acme CRM", "button_color": "#0b5fff", "redirect_url": "https://app.example.com/settings?tab=apps", "extra": []any{1, "two"}}
	token := f.connectURL(bearer, props)
	for _, c := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"redirect to a foreign origin", map[string]any{"redirect_url": "https://evil.example/steal"}, 400, "redirect_url"},
		{"redirect to a look-alike", map[string]any{"redirect_url": "https://app.example.com.evil.example/"}, 400, "redirect_url"},
		{"redirect with a script", map[string]any{"redirect_url": "javascript:alert(document.domain)"}, 400, "redirect_url"},
		{"relative redirect", map[string]any{"redirect_url": "/done"}, 400, "redirect_url"},
		{"redirect not a string", map[string]any{"redirect_url": 5}, 400, "redirect_url"},
		{"redirect with credentials", map[string]any{"redirect_url": "https://user:pw@app.example.com/"}, 400, "redirect_url"},
		{"array body", []any{1}, 400, "body"},
		{"string body", "\"x\"", 400, "body"},
		{"malformed", `{"a":`, 400, "body"},
		{"not UTF-8", []byte("{\"name\":\"\xff\xfe\"}"), 400, "body"},
		{"null", `null`, 400, "body"},
		{"too large", map[string]any{"name": strings.Repeat("x", linkd.MaxConnectPropertiesBytes)}, 413, "body"},
		{"loopback redirect in test", map[string]any{"redirect_url": "http://127.0.0.1:8080/cb"}, 200, ""},
		{"linkd itself", map[string]any{"redirect_url": "https://linkd.example.com/anything"}, 200, ""},
		{"no redirect", map[string]any{"redirect_url": nil, "name": ""}, 200, ""},
	} {
		res := f.do("POST", "/api/v2/public/connect-url", other, c.body)
		if res.status != c.status || (c.field != "" && res.json["field"] != c.field) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, res.status, res.raw, c.status, c.field)
		}
	}
	if res := f.do("POST", "/api/v2/public/connect-url", other, `{}`, "Content-Type", "text/plain"); res.status != 415 {
		t.Errorf("text/plain body: %d", res.status)
	}
	if res := f.do("POST", "/api/v2/public/connect-url?config_id=bad%20id", other, nil); res.status != 400 || res.json["field"] != "config_id" {
		t.Errorf("bad config_id: %d %s", res.status, res.raw)
	}
	if res := f.do("POST", "/api/v2/public/connect-url", "a", map[string]any{}, "linked_account_id", "cust"); res.status != 401 {
		t.Errorf("connect-url with an API key: %d", res.status)
	}
	// No body at all is an empty object.
	f.connectURL(other, nil)

	// hosted-properties: the newest live URL's object, as given; {} when
	// none; each account its own.
	res = f.do("GET", "/api/v2/public/hosted-properties", bearer, nil)
	var got map[string]any
	mustJSON(t, res.raw, &got)
	want, _ := json.Marshal(props)
	if gj, _ := json.Marshal(got); res.status != 200 || string(gj) != string(want) {
		t.Fatalf("hosted-properties = %d %s, want %s", res.status, res.raw, want)
	}
	if res := f.do("GET", "/api/v2/public/hosted-properties", other, nil); res.status != 200 || string(res.raw) != "{}\n" {
		t.Fatalf("the newest URL of other has no properties: %s", res.raw)
	}
	if res := f.do("GET", "/api/v2/public/hosted-properties", bearerB, nil); res.status != 200 || string(res.raw) != "{}\n" {
		t.Fatalf("another organization's account with the same id: %s", res.raw)
	}
	if res := f.do("GET", "/api/v2/public/hosted-properties", "Bearer st_nope", nil); res.status != 401 {
		t.Fatalf("bad token: %d", res.status)
	}

	// Org basics.
	res = f.do("GET", "/api/v3/org/basics", bearer, nil)
	if res.status != 200 || res.json["environment"] != "test" || !strings.HasPrefix(res.json["name"].(string), "a-") || res.json["org_id"] == "" {
		t.Fatalf("basics: %d %s", res.status, res.raw)
	}
	match(t, "basics", res.json, map[string]any{"linked_account": map[string]any{"linked_account_id": "cust", "name": "Name of cust"},
		"allowed_origins": []string{"http://localhost:3000", "https://app.example.com"}})
	resB := f.do("GET", "/api/v3/org/basics", bearerB, nil)
	if resB.json["org_id"] == res.json["org_id"] || len(resB.json["allowed_origins"].([]any)) != 0 {
		t.Fatalf("basics of org B: %s", resB.raw)
	}
	if res := f.do("GET", "/api/v3/org/basics", "a", nil); res.status != 401 {
		t.Fatalf("basics with an API key: %d", res.status)
	}

	// The page opens; the token of one account shows that account only.
	page := f.page("GET", token, "", nil)
	if page.status != 200 || !strings.Contains(string(page.raw), "for Name of cust") || strings.Contains(string(page.raw), "Name of other") {
		t.Fatalf("page: %d %s", page.status, page.raw)
	}
	// Unknown, malformed, expired and deleted-account tokens get a page
	// that says nothing about the account.
	orgID := res.json["org_id"].(string)
	now := time.Now().UTC().Truncate(time.Microsecond)
	expired, expiredHash := linkd.NewConnectSecret()
	cs := &linkd.ConnectSession{ID: linkd.NewID(), AccountID: "cust", Properties: []byte(`{}`), CreatedAt: now.Add(-linkd.ConnectSessionTTL - time.Hour), ExpiresAt: now.Add(-time.Hour)}
	if err := f.store.CreateConnectSession(t.Context(), linkd.Tenant{OrgID: orgID, Env: linkd.EnvTest}, cs, expiredHash); err != nil {
		t.Fatal(err)
	}
	unknown, _ := linkd.NewConnectSecret()
	doomed := f.connectURL(other, nil)
	f.do("DELETE", la+"/other", "a", nil)
	for _, c := range []struct {
		name, token string
		status      int
	}{
		{"unknown", unknown, 404}, {"malformed", "ct_short", 404}, {"session token", strings.TrimPrefix(bearer, "Bearer "), 404},
		{"expired", expired, 410}, {"deleted account", doomed, 404},
	} {
		p := f.page("GET", c.token, "", nil)
		if p.status != c.status || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") ||
			strings.Contains(string(p.raw), "cust") || strings.Contains(string(p.raw), "other") || p.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s token: %d %s %q", c.name, p.status, p.header.Get("Content-Type"), p.raw)
		}
		if p := f.page("POST", c.token, "/disconnect/stripe", url.Values{}); p.status != c.status {
			t.Errorf("%s token, POST: %d", c.name, p.status)
		}
	}
	if res := f.do("GET", "/api/v2/public/session/active-linked-account", "Bearer "+token, nil); res.status != 401 {
		t.Fatalf("a connect token works as a session token: %d", res.status)
	}
}

// page requests the hosted page (or one of its actions, suffix) without
// following redirects, as a same-origin browser form would.
func (f *fixture) page(method, token, suffix string, form url.Values, headers ...string) response {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.url+"/connect/"+token+suffix, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := *f.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, raw: raw}
}

func testCORS(t *testing.T, f *fixture) {
	bearer := f.bearerFor("a", "cust")
	f.do("PUT", "/api/v2/public/org/allowed-origins", "a", map[string]any{"allowed_origins": []string{"https://app.example.com"}})
	const good, evil = "https://app.example.com", "https://evil.example"

	// Preflights check the shape only (they carry no token): the route and
	// method exist, and the headers are ones browsers may send.
	for _, c := range []struct {
		name, path, method, headers string
		ok                          bool
	}{
		{"SDK list", "/api/v2/f-sdk/application", "GET", "authorization", true},
		{"SDK save", "/api/v2/app/stripe/save", "POST", "authorization, content-type, idempotency-key", true},
		{"connect url", "/api/v2/public/connect-url", "POST", "Authorization,Content-Type", true},
		{"basics", "/api/v3/org/basics", "GET", "authorization", true},
		{"account upsert", la, "PUT", "authorization, content-type", true},
		{"disconnect", "/api/v1/linked-acc/integration/stripe", "DELETE", "authorization, linked_account_id", true},
		{"API key from a browser", la, "GET", "x-api-key", false},
		{"unknown header", "/api/v2/f-sdk/application", "GET", "authorization, x-forwarded-for", false},
		{"no such route", "/api/v2/public/nothing", "GET", "authorization", false},
		{"no such method", "/api/v3/org/basics", "DELETE", "authorization", false},
	} {
		res := f.do("OPTIONS", c.path, "", nil, "Origin", evil, "Access-Control-Request-Method", c.method, "Access-Control-Request-Headers", c.headers)
		acao := res.header.Get("Access-Control-Allow-Origin")
		if c.ok {
			if res.status != 204 || acao != evil || res.header.Get("Access-Control-Allow-Methods") != c.method ||
				!strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "Idempotency-Key") || strings.Contains(strings.ToLower(res.header.Get("Access-Control-Allow-Headers")), "x-api-key") ||
				res.header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin") {
				t.Errorf("preflight %s: %d %v", c.name, res.status, res.header)
			}
		} else if res.status != 403 || acao != "" {
			t.Errorf("preflight %s: %d, ACAO %q; want 403 without CORS headers", c.name, res.status, acao)
		}
	}

	// Requests: an allowed origin reads the answer; another is refused
	// before anything happens.
	res := f.do("GET", "/api/v2/f-sdk/application", bearer, nil, "Origin", good)
	if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != good || !strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin") ||
		!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Fatalf("allowed origin: %d %v %s", res.status, res.header, res.raw)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v2/app/stripe/save", map[string]any{"secret_key": "sk_test_evil"}},
		{"PUT", la, map[string]any{"name": "Hijacked"}},
		{"POST", "/api/v2/public/connect-url", map[string]any{"name": "Evil"}},
		{"POST", "/api/v2/public/session-token/revoke", nil},
		{"GET", "/api/v3/org/basics", nil},
		{"GET", "/api/v2/public/hosted-properties", nil},
		{"GET", "/api/v2/public/session/active-linked-account", nil},
	} {
		res := f.do(c.method, c.path, bearer, c.body, "Origin", evil, "Idempotency-Key", "k-"+c.path)
		if res.status != 403 || res.json["error"] != "ORIGIN_NOT_ALLOWED" || res.json["field"] != "Origin" || res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s from %s: %d %s", c.method, c.path, evil, res.status, res.raw)
		}
	}
	// Nothing of it happened: no connection, same name, no properties, the
	// token still works.
	if res := f.do("GET", "/api/v2/public/application/stripe", "a", nil, "linked_account_id", "cust"); res.json["connected"] != nil {
		t.Fatalf("a refused request connected stripe: %s", res.raw)
	}
	if res := f.do("GET", la+"/cust", "a", nil); res.json["name"] != "Name of cust" {
		t.Fatalf("a refused request renamed the account: %s", res.raw)
	}
	if res := f.do("GET", "/api/v2/public/hosted-properties", bearer, nil); string(res.raw) != "{}\n" {
		t.Fatalf("a refused request made a connect URL: %s", res.raw)
	}
	// The same writes from the allowed origin, and from loopback (test
	// environment) and linkd's own origin, go through.
	for _, origin := range []string{good, "http://localhost:5173", "http://127.0.0.1:3000", "https://linkd.example.com"} {
		if res := f.do("POST", "/api/v2/app/stripe/save", bearer, map[string]any{"secret_key": "sk_test_ok"}, "Origin", origin); res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("save from %s: %d %s", origin, res.status, res.raw)
		}
	}
	if res := f.do("GET", "/api/v2/public/application/stripe", "a", nil, "linked_account_id", "cust"); res.json["connected"] != true {
		t.Fatalf("allowed save did not connect: %s", res.raw)
	}
	// Requests without Origin (servers, curl) are not browsers: no CORS
	// headers, no origin check.
	if res := f.do("GET", "/api/v3/org/basics", bearer, nil); res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no Origin: %d %v", res.status, res.header)
	}
	// A refused token is readable from any origin (so the SDK can refresh),
	// and says nothing more.
	if res := f.do("GET", "/api/v3/org/basics", "Bearer st_nope", nil, "Origin", evil); res.status != 401 || res.header.Get("Access-Control-Allow-Origin") != evil {
		t.Fatalf("bad token from a browser: %d %v", res.status, res.header)
	}
	// Loopback is a test-environment convenience only.
	prod := f.bearerFor("aprod", "cust")
	for origin, status := range map[string]int{"http://localhost:5173": 403, good: 403, "https://linkd.example.com": 200} {
		if res := f.do("GET", "/api/v3/org/basics", prod, nil, "Origin", origin); res.status != status {
			t.Errorf("production from %s: %d, want %d", origin, res.status, status)
		}
	}
	f.do("PUT", "/api/v2/public/org/allowed-origins", "aprod", map[string]any{"allowed_origins": []string{good}})
	if res := f.do("GET", "/api/v3/org/basics", prod, nil, "Origin", good); res.status != 200 {
		t.Fatalf("production after allowing: %d %s", res.status, res.raw)
	}
	// Another organization's list does not count.
	bearerB := f.bearerFor("b", "cust")
	if res := f.do("GET", "/api/v3/org/basics", bearerB, nil, "Origin", good); res.status != 403 {
		t.Fatalf("org B from org A's origin: %d", res.status)
	}
}

func testHostedPage(t *testing.T, f *fixture) {
	bearer := f.bearerFor("a", "cust")
	bearerB := f.bearerFor("b", "cust")
	f.do("PUT", "/api/v2/public/org/allowed-origins", "a", map[string]any{"allowed_origins": []string{"https://app.example.com"}})
	token := f.connectURL(bearer, map[string]any{"name": "Acme CRM", "button_color": "#0B5FFF", "bgColor": "red;}</style><script>alert(1)</script>",
		"redirect_url": "https://app.example.com/done"})
	tokenB := f.connectURL(bearerB, nil)

	page := f.page("GET", token, "", nil)
	body := string(page.raw)
	csp := page.header.Get("Content-Security-Policy")
	if page.status != 200 || !strings.Contains(body, "Connect your apps") || !strings.Contains(body, "Choose the apps Acme CRM may work with") ||
		!strings.Contains(body, `id="app-stripe"`) || !strings.Contains(body, "--accent:#0b5fff") || !strings.Contains(body, "--bg:#f6f7f9") {
		t.Fatalf("page: %d %s", page.status, body)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "alert(1)") {
		t.Fatalf("a property was injected into the page: %s", body)
	}
	for _, want := range []string{"default-src 'none'", "style-src 'nonce-", "form-action 'self'", "frame-ancestors 'self' https://app.example.com http://localhost:*", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP allows scripts: %q", csp)
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if page.header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, page.header.Get(h), want)
		}
	}

	// Key-based connect: a missing required field comes back next to the
	// field, with what was typed kept except secrets.
	res := f.page("POST", token, "/keys/sendgrid", url.Values{"api_key": {""}, "region": {"eu"}})
	if res.status != 400 || !strings.Contains(string(res.raw), `id="f-sendgrid-api_key-err"`) || !strings.Contains(string(res.raw), "API key is required.") ||
		!strings.Contains(string(res.raw), `<option value="eu" selected>`) || !strings.Contains(string(res.raw), "<title>Error: ") {
		t.Fatalf("missing field: %d %s", res.status, res.raw)
	}
	res = f.page("POST", token, "/keys/sendgrid", url.Values{"api_key": {"SG.SECRET-typed"}, "region": {"mars"}})
	if res.status != 400 || !strings.Contains(string(res.raw), `id="f-sendgrid-region-err"`) || strings.Contains(string(res.raw), "SECRET-typed") {
		t.Fatalf("bad option: %d %s", res.status, res.raw)
	}
	if acct := f.do("GET", la+"/cust", "a", nil); acct.json["connected_apps"] != float64(0) {
		t.Fatalf("a refused form connected: %s", acct.raw)
	}
	res = f.page("POST", token, "/keys/sendgrid", url.Values{"api_key": {"SG.ok"}, "region": {"eu"}, "unknown": {"ignored"}})
	loc := res.header.Get("Location")
	if res.status != 303 || loc != "/connect/"+token+"?linkd_status=connected&slug=sendgrid" {
		t.Fatalf("save: %d %q %s", res.status, loc, res.raw)
	}
	app := f.do("GET", "/api/v2/public/application/sendgrid", "a", nil, "linked_account_id", "cust")
	if app.json["connected"] != true {
		t.Fatalf("sendgrid after the form: %s", app.raw)
	}
	audit := f.do("GET", "/api/v2/public/audit?linked_account_id=cust", "a", nil)
	if d := audit.json["docs"].([]any)[0].(map[string]any); d["action"] != "connection.create" || !strings.HasPrefix(d["actor"].(string), "connect:") {
		t.Fatalf("audit of a hosted connect: %s", audit.raw)
	}
	// Back on the page: the notice, a way back to the app, and the new state.
	page = f.page("GET", token, "?linkd_status=connected&slug=sendgrid", nil)
	if !strings.Contains(string(page.raw), "Connected to SendGrid.") || !strings.Contains(string(page.raw), `href="https://app.example.com/done">Return to app.example.com</a>`) ||
		!strings.Contains(string(page.raw), `id="app-sendgrid" data-state="connected"`) {
		t.Fatalf("page after connecting: %s", page.raw)
	}

	// State changes from another site are refused, and change nothing.
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "", "Origin", "https://evil.example"}} {
		res := f.page("POST", token, "/disconnect/sendgrid", url.Values{}, h...)
		if res.status != 403 || !strings.Contains(string(res.raw), "another site") {
			t.Fatalf("cross-site disconnect %v: %d %s", h, res.status, res.raw)
		}
	}
	if app := f.do("GET", "/api/v2/public/application/sendgrid", "a", nil, "linked_account_id", "cust"); app.json["connected"] != true {
		t.Fatal("a cross-site post disconnected the app")
	}

	// One account's token acts on that account only.
	f.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/sendgrid", "b", map[string]any{"api_key": "SG.b", "region": "eu"}, "linked_account_id", "cust")
	if res := f.page("POST", tokenB, "/disconnect/sendgrid", url.Values{}); res.status != 303 {
		t.Fatalf("disconnect B: %d", res.status)
	}
	if app := f.do("GET", "/api/v2/public/application/sendgrid", "a", nil, "linked_account_id", "cust"); app.json["connected"] != true {
		t.Fatal("org B's page disconnected org A's account")
	}

	// Disconnect.
	res = f.page("POST", token, "/disconnect/sendgrid", url.Values{})
	if res.status != 303 || res.header.Get("Location") != "/connect/"+token+"?linkd_status=disconnected&slug=sendgrid" {
		t.Fatalf("disconnect: %d %v", res.status, res.header)
	}
	if app := f.do("GET", "/api/v2/public/application/sendgrid", "a", nil, "linked_account_id", "cust"); app.json["connected"] != nil {
		t.Fatalf("still connected after disconnect: %s", app.raw)
	}
	// An OAuth app that is not set up is not offered, and cannot be started.
	if res := f.page("POST", token, "/oauth/slack", url.Values{}); res.status != 303 || !strings.Contains(res.header.Get("Location"), "linkd_status=error") {
		t.Fatalf("oauth of an unavailable app: %d %v", res.status, res.header)
	}

	// Revoking the account's links ends them at once; another tenant's
	// account of the same id keeps its link, and cannot revoke ours.
	if res := f.do("DELETE", "/api/v2/public/connect-url", "b", nil, "linked_account_id", "nobody"); res.status != 404 {
		t.Fatalf("revoke for an unknown account: %d %s", res.status, res.raw)
	}
	second := f.connectURL(bearer, nil)
	res = f.do("DELETE", "/api/v2/public/connect-url", "a", nil, "linked_account_id", "cust")
	if res.status != 200 || res.json["revoked_count"] != float64(2) {
		t.Fatalf("revoke links: %d %s", res.status, res.raw)
	}
	for _, tok := range []string{token, second} {
		if page := f.page("GET", tok, "", nil); page.status != 404 {
			t.Fatalf("a revoked link still opens: %d", page.status)
		}
	}
	if page := f.page("GET", tokenB, "", nil); page.status != 200 {
		t.Fatalf("another tenant's link was revoked: %d", page.status)
	}
	if res := f.do("DELETE", "/api/v2/public/connect-url", bearerB, nil); res.status != 200 || res.json["revoked_count"] != float64(1) {
		t.Fatalf("revoke own links with a session token: %d %s", res.status, res.raw)
	}
}
