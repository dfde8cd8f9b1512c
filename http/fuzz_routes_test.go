package http_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/vault"
)

// fuzzRoutes are the routes FuzzAPIRequests sends its inputs to: every one
// that decodes a JSON body, a cursor or other query, a path id or a header.
// {x} is replaced by the fuzzed path segment. session marks the routes
// called with a session token instead of the API key.
var fuzzRoutes = []struct {
	method, path string
	session      bool
}{
	{"POST", "/api/v2/public/linked-account", false},
	{"PUT", "/api/v2/public/linked-account", false},
	{"GET", "/api/v2/public/linked-account", false},
	{"GET", "/api/v2/public/linked-account/{x}", false},
	{"DELETE", "/api/v2/public/linked-account/{x}", false},
	{"GET", "/api/v2/public/audit", false},
	{"POST", "/api/v2/public/session-token", false},
	{"PUT", "/api/v2/public/application/{x}/settings", false},
	{"PUT", "/api/v2/public/linked-account/integration/save-key-credentials/{x}", false},
	{"GET", "/api/v2/public/linked-account/{x}/connection/stripe/credentials", false},
	{"PUT", "/api/v2/public/migrate-token", false},
	{"POST", "/api/v2/public/config", false},
	{"PUT", "/api/v2/public/config", false},
	{"GET", "/api/v2/public/slug/{x}/config", false},
	{"PATCH", "/api/v2/public/slug/stripe/config/{x}/workflows/w1", false},
	{"PUT", "/api/v2/public/org/allowed-origins", false},
	{"PUT", "/api/v2/public/org/settings", false},
	{"POST", "/api/v2/public/webhook", false},
	{"PUT", "/api/v2/public/webhook/{x}", false},
	{"GET", "/api/v2/public/webhook/{x}/deliveries", false},
	{"POST", "/api/v2/public/webhook/{x}/replay", false},
	{"POST", "/api/v2/public/webhook/subscribe", false},
	{"POST", "/api/v2/public/webhook/unsubscribe", false},
	{"PUT", "/api/v2/public/webhooks/group/edit", false},
	{"GET", "/api/v2/public/linked-account/import/{x}", false},
	{"GET", "/api/v2/public/linked-account/import", false},
	{"GET", "/api/v2/public/linked-account/export.csv", false},
	{"POST", "/api/v2/f-sdk/config", true},
	{"POST", "/api/v2/app/{x}/save", true},
	{"POST", "/api/v2/public/connect-url", true},
}

// FuzzAPIRequests sends arbitrary bodies, query strings, path ids and
// headers (Idempotency-Key, linked_account_id, the API key itself) to the
// routes that decode them, on a real server and store: whatever arrives,
// the answer is never a 5xx (a panic, an unwrapped decode error, a store
// rejecting what validation let through).
func FuzzAPIRequests(f *testing.F) {
	seeds := []struct {
		route               int
		x, query, body, hdr string
	}{
		{0, "", "", `{"linked_account_id":"cust","name":"Acme","udf":{"plan":"pro"}}`, ""},
		{2, "", "cursor=MDE5MmYwYjAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw&limit=5", "", ""},
		{5, "", "cursor=%ff%fe&limit=1", "", ""},
		{6, "", "", `{"linked_account_id":"cust"}`, "k1"},
		{7, "slack", "", `{"client_id":"c","client_secret":"s","enabled":true}`, ""},
		{8, "stripe", "linked_account_id=cust", `{"secret_key":"sk_1"}`, ""},
		{10, "", "", `{"linked_account_id":"cust","slug":"stripe","access_token":"a","refresh_token":"r","expires_in":3600}`, ""},
		{11, "", "", `{"slug":"stripe","linked_account_id":"cust","fields":{"a":1},"workflows":[{"id":"w1","enabled":true}]}`, "k2"},
		{15, "", "", `{"allowed_origins":["https://a.example.com"]}`, ""},
		{16, "", "", `{"session_token_may_rename":true}`, ""},
		{17, "", "", `{"webhook_url":"https://h.example.com/x","webhook_events":["connection.created"],"headers":{"X":"y"}}`, ""},
		{18, "01900000-0000-7000-8000-000000000000", "", `{"webhook_url":"https://h.example.com/y"}`, ""},
		{19, "01900000-0000-7000-8000-000000000000", "cursor=abc&status=failed", "", ""},
		{20, "x", "", `{"since":"2024-01-01T00:00:00Z"}`, ""},
		{23, "", "", `{"group":"g","webhooks":[]}`, ""},
		{27, "", "", `{"slug":"stripe","fields":{}}`, ""},
		{3, "%00", "", "", ""},
		{3, "cust", "", "", "\x00"},
	}
	for _, s := range seeds {
		f.Add(s.route, s.x, s.query, []byte(s.body), s.hdr, "")
	}
	base, apiKey, session := fuzzServer(f)
	client := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, route int, x, query string, body []byte, hdr, badKey string) {
		r := fuzzRoutes[(route%len(fuzzRoutes)+len(fuzzRoutes))%len(fuzzRoutes)]
		path := strings.ReplaceAll(r.path, "{x}", url.PathEscape(x))
		if query != "" {
			path += "?" + query
		}
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		if !httpguts.ValidHeaderFieldValue(hdr) || !httpguts.ValidHeaderFieldValue(badKey) {
			return // header values net/http refuses to send
		}
		req, err := http.NewRequestWithContext(t.Context(), r.method, base+path, rd)
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		key := apiKey
		if badKey != "" {
			key = badKey
		}
		if r.session && badKey == "" {
			req.Header.Set("Authorization", "Bearer "+session)
		} else {
			req.Header.Set("x-api-key", key)
		}
		if hdr != "" {
			req.Header.Set("Idempotency-Key", hdr)
			req.Header.Set("linked_account_id", hdr)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, path, err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, path, body, res.StatusCode, out)
		}
	})
}

// fuzzServer starts a server on a fresh SQLite store with one tenant and
// returns its URL, an API key and a session token of the account "cust".
func fuzzServer(f *testing.F) (base, apiKey, session string) {
	store := dbtest.SQLite(f)
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		f.Fatal(err)
	}
	svcs := linkd.NewServices(store, keys, "https://linkd.example.com")
	cat, err := catalog.Load(strings.NewReader("apps:\n"))
	if err != nil {
		f.Fatal(err)
	}
	svcs.Webhooks.Catalog = cat
	conns := connect.NewService(store, svcs.Accounts, cat, "https://linkd.example.com")
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: svcs, Connections: conns})
	f.Cleanup(srv.Close)
	ts := httptest.NewServer(srv.Handler())
	f.Cleanup(ts.Close)

	ctx := f.Context()
	now := time.Now().UTC()
	org := &linkd.Org{ID: linkd.NewID(), Name: "fuzz", CreatedAt: now}
	if err := store.CreateOrg(ctx, org); err != nil {
		f.Fatal(err)
	}
	secret, hash := linkd.NewAPIKeySecret(linkd.EnvTest)
	k := &linkd.APIKey{ID: linkd.NewID(), OrgID: org.ID, Env: linkd.EnvTest, Name: "fuzz", Prefix: linkd.APIKeyPrefix(secret), CreatedAt: now}
	if err := store.CreateAPIKey(ctx, k, hash, nil); err != nil {
		f.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	for _, r := range []struct{ path, body string }{
		{"/api/v2/public/linked-account", `{"linked_account_id":"cust"}`},
		{"/api/v2/public/session-token", `{"linked_account_id":"cust"}`},
	} {
		req, _ := http.NewRequest("POST", ts.URL+r.path, strings.NewReader(r.body))
		req.Header.Set("x-api-key", secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := ts.Client().Do(req)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			f.Fatalf("POST %s: %d %s", r.path, res.StatusCode, b)
		}
		json.Unmarshal(b, &tok)
	}
	if tok.Token == "" {
		f.Fatal("no session token")
	}
	return ts.URL, secret, tok.Token
}
