package http_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/hosted"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/oauthtest"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/ratelimit"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// fixture is a running server on a real store with keys for three tenants.
type fixture struct {
	t      *testing.T
	store  linkd.Store
	url    string
	keys   map[string]string // name → secret: "a" (org A test), "aprod", "b" (org B test), "revoked"
	client *http.Client
	runner *csvio.Runner
	// patterns are the server's routes ("METHOD /path"), for tests that
	// must cover every one of them.
	patterns []string
	// provider is the OAuth provider of newOAuthFixture, else nil.
	provider *oauthtest.Provider
	// accounts and connections are the services behind the server.
	accounts    *linkd.AccountService
	connections *connect.Service
	caller      *proxy.Caller
	// callLog records the proxy's calls, as serve wires it.
	callLog *linkd.CallRecorder
	// flows runs workflow executions (Drain them in tests).
	flows *workflow.Runner
}

func newFixture(t *testing.T, store linkd.Store, rateLimit float64) *fixture {
	t.Helper()
	return startFixture(t, store, rateLimit, false, "")
}

// newOAuthFixture is newFixture with a real OAuth 2.0 provider (oauthtest)
// in the catalog as the app "testprov", and the server's public URL its
// own address, so that the provider's redirects come back to it.
func newOAuthFixture(t *testing.T, store linkd.Store) *fixture {
	t.Helper()
	return startFixture(t, store, 0, true, "")
}

// startFixture starts the server; apps are catalog entries (list items,
// without the "apps:" line) added to the shipped ones, and to testprov
// when withProvider. Calls to apps may reach loopback.
func startFixture(t *testing.T, store linkd.Store, rateLimit float64, withProvider bool, apps string) *fixture {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	kr, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	svcs := linkd.NewServices(store, kr, "")
	svc := svcs.Accounts
	imp := csvio.NewImporter(store, svc, 4<<20)
	// The listener comes first: the provider registers the server's
	// callback, and the catalog names the provider.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "https://linkd.example.com"
	var prov *oauthtest.Provider
	extra := "apps:\n"
	if withProvider {
		public = "http://" + ln.Addr().String()
		prov = oauthtest.NewProvider(t, public+"/oauth/callback")
		extra = prov.CatalogYAML("testprov", "Test Provider")
	}
	cat, err := catalog.Load(strings.NewReader(extra + apps))
	if err != nil {
		t.Fatal(err)
	}
	svcs.Webhooks.Catalog = cat
	loopback := outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	svcs.Hosted.PublicURL = public
	conns := connect.NewService(store, svc, cat, public)
	conns.HTTPClient = outbound.NewClient(loopback)
	caller := &proxy.Caller{Connections: conns, Catalog: cat, Client: outbound.NewClient(loopback), MaxBody: 4 << 20, Timeout: 5 * time.Second,
		BackoffBase: time.Millisecond}
	// Closed before the store (cleanups run last first), as serve does.
	callLog := linkd.NewCallRecorder(store, linkd.CallRecorderOptions{FlushEvery: 10 * time.Millisecond})
	t.Cleanup(func() { callLog.Close() })
	pages := hosted.New(hosted.Config{Store: store, Connections: conns, Limiter: ratelimit.New(rateLimit, nil), RequestID: linkdhttp.RequestID})
	svcs.Executions.Catalog = cat
	flows := workflow.NewRunner(store, workflow.Options{Catalog: cat, Caller: caller}, worker.Options{Owner: "test"})
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: svcs, Imports: imp, Pages: pages, Connections: conns, Apps: caller, CallLog: callLog,
		RateLimit: rateLimit, Workflows: flows})
	t.Cleanup(srv.Close)
	caller.Observe = srv.ObserveAppCall
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	t.Cleanup(ts.Close)
	f := &fixture{t: t, store: store, url: ts.URL, keys: map[string]string{}, client: ts.Client(), provider: prov, accounts: svc, connections: conns, caller: caller, callLog: callLog,
		runner: csvio.NewRunner(imp, worker.Options{Owner: "test"}, 2), patterns: srv.Patterns(), flows: flows}
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	orgA := &linkd.Org{ID: linkd.NewID(), Name: "a-" + linkd.NewID(), CreatedAt: now}
	orgB := &linkd.Org{ID: linkd.NewID(), Name: "b-" + linkd.NewID(), CreatedAt: now}
	for _, o := range []*linkd.Org{orgA, orgB} {
		if err := store.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for name, spec := range map[string]struct {
		org *linkd.Org
		env linkd.Environment
	}{"a": {orgA, linkd.EnvTest}, "aprod": {orgA, linkd.EnvProduction}, "b": {orgB, linkd.EnvTest}, "revoked": {orgA, linkd.EnvTest}} {
		secret, hash := linkd.NewAPIKeySecret(spec.env)
		k := &linkd.APIKey{ID: linkd.NewID(), OrgID: spec.org.ID, Env: spec.env, Name: name, Prefix: linkd.APIKeyPrefix(secret), CreatedAt: now}
		if err := store.CreateAPIKey(ctx, k, hash, nil); err != nil {
			t.Fatal(err)
		}
		if name == "revoked" {
			if err := store.RevokeAPIKey(ctx, spec.org.ID, k.ID, now, nil); err != nil {
				t.Fatal(err)
			}
		}
		f.keys[name] = secret
	}
	return f
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

// do sends a request as the named key ("" for none); body is sent as JSON
// unless it is a []byte, sent as is.
func (f *fixture) do(method, path, key string, body any, headers ...string) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(path, la+"/import") && method == "POST" {
		req.Header.Set("Content-Type", "text/csv")
	}
	if bearer, ok := strings.CutPrefix(key, "Bearer "); ok {
		req.Header.Set("Authorization", "Bearer "+bearer)
	} else if key != "" {
		secret, ok := f.keys[key]
		if !ok {
			secret = key
		}
		req.Header.Set("x-api-key", secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && !bytes.HasPrefix(raw, []byte("[")) {
		if err := json.Unmarshal(raw, &out.json); err != nil {
			f.t.Fatalf("%s %s: invalid JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

// match checks that got contains want: every key of want with an equal value
// (compared in JSON form), recursively for nested objects.
func match(t *testing.T, label string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("%s: no %q in %v", label, k, got)
			continue
		}
		if wm, ok := wv.(map[string]any); ok {
			gm, _ := gv.(map[string]any)
			match(t, label+"."+k, gm, wm)
			continue
		}
		wj, _ := json.Marshal(wv)
		gj, _ := json.Marshal(gv)
		if string(wj) != string(gj) {
			t.Errorf("%s: %s = %s, want %s", label, k, gj, wj)
		}
	}
}

func TestAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		t.Run("Scenarios", func(t *testing.T) { testScenarios(t, newFixture(t, store, 0)) })
		t.Run("UpsertAndList", func(t *testing.T) { testUpsertAndList(t, newFixture(t, store, 0)) })
		t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, newFixture(t, store, 0)) })
		t.Run("IdempotencyPerCaller", func(t *testing.T) { testIdempotencyPerCaller(t, newFixture(t, store, 0)) })
		t.Run("IdempotencyAfterDelete", func(t *testing.T) { testIdempotencyAfterDelete(t, newFixture(t, store, 0)) })
		t.Run("RateLimit", func(t *testing.T) { testRateLimit(t, newFixture(t, store, 1)) })
		t.Run("Operations", func(t *testing.T) { testOperations(t, newFixture(t, store, 0)) })
		t.Run("NothingHalfWritten", func(t *testing.T) { testNothingHalfWritten(t, newFixture(t, store, 0)) })
		t.Run("ImportExport", func(t *testing.T) { testImportExport(t, newFixture(t, store, 0)) })
		t.Run("ImportOptions", func(t *testing.T) { testImportOptions(t, newFixture(t, store, 0)) })
		t.Run("SessionTokens", func(t *testing.T) { testSessionTokens(t, newFixture(t, store, 0)) })
		t.Run("SessionTokenRename", func(t *testing.T) { testSessionTokenRename(t, newFixture(t, store, 0)) })
		t.Run("Applications", func(t *testing.T) { testApplications(t, newFixture(t, store, 0)) })
		t.Run("Configs", func(t *testing.T) { testConfigs(t, newFixture(t, store, 0)) })
		t.Run("IsolationEveryRoute", func(t *testing.T) { testIsolationEveryRoute(t, newFixture(t, store, 0)) })
	})
}

const la = "/api/v2/public/linked-account"

func testScenarios(t *testing.T, f *fixture) {
	long := strings.Repeat("x", 256)
	manyUDF := map[string]any{}
	for i := range 101 {
		manyUDF[fmt.Sprint("k", i)] = i
	}
	scenarios := []struct {
		name    string
		method  string
		path    string
		key     string
		body    any
		headers []string
		status  int
		want    map[string]any
	}{
		// Authentication.
		{"no key", "GET", la, "", nil, nil, 401, map[string]any{"status_code": 401, "http_error_type": "UNAUTHORIZED", "field": "x-api-key", "message": "Missing x-api-key header"}},
		{"malformed key", "GET", la, "nonsense", nil, nil, 401, map[string]any{"message": "Invalid Credentials"}},
		{"unknown key", "GET", la, "tk_" + strings.Repeat("A", 43), nil, nil, 401, map[string]any{"message": "Invalid Credentials"}},
		{"revoked key", "GET", la, "revoked", nil, nil, 401, map[string]any{"field": "x-api-key"}},

		// Create.
		{"create", "POST", la, "a", map[string]any{"linked_account_id": "user_12345", "name": "Acme Inc.", "udf": map[string]any{"plan": "enterprise", "seats": 42, "trial": false}},
			nil, 200, map[string]any{"account_id": "user_12345", "name": "Acme Inc.", "environment": "test", "has_auth_credentials": false,
				"udf": nil /* checked below */}},
		{"create duplicate", "POST", la, "a", map[string]any{"linked_account_id": "user_12345"}, nil, 400,
			map[string]any{"message": "Linked account with id user_12345 already exists in the test environment", "field": "linked_account_id"}},
		{"create alias account_id", "POST", la, "a", map[string]any{"account_id": "alias-1", "your_app": map[string]any{"auth_credentials": map[string]any{"api_key": "s3cr3t-value"}}},
			nil, 200, map[string]any{"account_id": "alias-1", "has_auth_credentials": true}},
		{"create ids disagree", "POST", la, "a", map[string]any{"account_id": "x", "linked_account_id": "y"}, nil, 400, map[string]any{"field": "account_id"}},
		{"create no id", "POST", la, "a", map[string]any{"name": "n"}, nil, 400, map[string]any{"error": "INVALID_LINKED_ACCOUNT_ID", "message": "linked_account_id required"}},
		{"create id too long", "POST", la, "a", map[string]any{"linked_account_id": long}, nil, 400, map[string]any{"field": "linked_account_id"}},
		{"create id control char", "POST", la, "a", map[string]any{"linked_account_id": "a\u0007b"}, nil, 400, map[string]any{"field": "linked_account_id"}},
		{"create id padded", "POST", la, "a", map[string]any{"linked_account_id": " a"}, nil, 400, map[string]any{"field": "linked_account_id"}},
		{"create name too long", "POST", la, "a", map[string]any{"linked_account_id": "n1", "name": long}, nil, 400, map[string]any{"field": "name"}},
		{"create name wrong type", "POST", la, "a", map[string]any{"linked_account_id": "n1", "name": 5}, nil, 400, map[string]any{"field": "name"}},
		{"create udf object value", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": map[string]any{"deep": map[string]any{}}}, nil, 400, map[string]any{"field": "udf.deep"}},
		{"create udf null value", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": map[string]any{"gone": nil}}, nil, 400, map[string]any{"field": "udf.gone"}},
		{"create udf too many", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": manyUDF}, nil, 400, map[string]any{"field": "udf"}},
		{"create udf key too long", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": map[string]any{strings.Repeat("k", 65): 1}}, nil, 400, map[string]any{"field": "udf." + strings.Repeat("k", 65)}},
		{"create udf value too large", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": map[string]any{"big": strings.Repeat("v", 5000)}}, nil, 400, map[string]any{"field": "udf.big"}},
		{"create udf NUL", "POST", la, "a", []byte(`{"linked_account_id":"n1","udf":{"z":"a\u0000b"}}`), nil, 400, map[string]any{"field": "udf.z"}},
		{"create udf escaped backslash-u is fine", "POST", la, "a", []byte(`{"linked_account_id":"bs-u","udf":{"z":"a\\u0000b"}}`), nil, 200, nil},
		{"create udf not object", "POST", la, "a", map[string]any{"linked_account_id": "n1", "udf": "plan=pro"}, nil, 400, map[string]any{"field": "udf"}},
		{"create your_app without credentials", "POST", la, "a", map[string]any{"linked_account_id": "n1", "your_app": map[string]any{"app_id": "x"}}, nil, 400, map[string]any{"field": "your_app.auth_credentials"}},
		{"create credentials not object", "POST", la, "a", map[string]any{"linked_account_id": "n1", "your_app": map[string]any{"auth_credentials": "tok"}}, nil, 400, map[string]any{"field": "your_app.auth_credentials"}},
		{"create malformed JSON", "POST", la, "a", `{"linked_account_id": "n1",`, nil, 400, map[string]any{"field": "body"}},
		{"create JSON array", "POST", la, "a", `[1,2]`, nil, 400, map[string]any{"field": "body"}},
		{"create trailing data", "POST", la, "a", `{"linked_account_id":"n1"} {}`, nil, 400, map[string]any{"field": "body"}},
		{"create empty body", "POST", la, "a", ``, nil, 400, map[string]any{"field": "body"}},
		{"create wrong content type", "POST", la, "a", `{"linked_account_id":"n1"}`, []string{"Content-Type", "text/plain"}, 415, map[string]any{"field": "Content-Type", "http_error_type": "UNSUPPORTED_MEDIA_TYPE"}},
		{"create too large", "POST", la, "a", []byte(`{"linked_account_id":"n1","name":"` + strings.Repeat("x", linkdhttp.MaxBodyBytes) + `"}`), nil, 413, map[string]any{"field": "body"}},

		// Read, across tenants.
		{"get", "GET", la + "/user_12345", "a", nil, nil, 200, map[string]any{"account_id": "user_12345", "name": "Acme Inc."}},
		{"get other org", "GET", la + "/user_12345", "b", nil, nil, 404, map[string]any{"error": "RESOURCE_NOT_FOUND"}},
		{"get other env", "GET", la + "/user_12345", "aprod", nil, nil, 404, nil},
		{"get missing", "GET", la + "/nobody", "a", nil, nil, 404, nil},
		{"get escaped id", "GET", la + "/a%2Fb", "a", nil, nil, 404, map[string]any{"status_code": 404}},
		{"delete other org", "DELETE", la + "/user_12345", "b", nil, nil, 404, nil},
		{"list other org is empty", "GET", la, "b", nil, nil, 200, map[string]any{"totalDocs": 0, "docs": []any{}}},

		// Delete.
		{"delete", "DELETE", la + "/alias-1", "a", nil, nil, 200, map[string]any{"message": "User deleted successfully"}},
		{"delete again", "DELETE", la + "/alias-1", "a", nil, nil, 404, nil},
		{"get deleted", "GET", la + "/alias-1", "a", nil, nil, 404, nil},

		// Routing.
		{"unknown route", "GET", "/api/v2/public/nothing", "a", nil, nil, 404, map[string]any{"http_error_type": "NOT_FOUND"}},
		{"wrong method", "PATCH", la, "a", nil, nil, 405, map[string]any{"http_error_type": "METHOD_NOT_ALLOWED"}},
	}
	for _, s := range scenarios {
		res := f.do(s.method, s.path, s.key, s.body, s.headers...)
		if res.status != s.status {
			t.Errorf("%s: %s %s = %d %s, want %d", s.name, s.method, s.path, res.status, res.raw, s.status)
			continue
		}
		if res.json == nil {
			t.Errorf("%s: response is not JSON: %q", s.name, res.raw)
			continue
		}
		want := map[string]any{}
		for k, v := range s.want {
			if v != nil {
				want[k] = v
			}
		}
		match(t, s.name, res.json, want)
		if res.status >= 400 {
			if res.json["request_id"] == "" || res.json["request_id"] != res.header.Get("X-Request-Id") {
				t.Errorf("%s: request_id %v does not match header %q", s.name, res.json["request_id"], res.header.Get("X-Request-Id"))
			}
			if res.json["status_code"] != float64(res.status) {
				t.Errorf("%s: status_code %v in a %d response", s.name, res.json["status_code"], res.status)
			}
		}
		if bytes.Contains(res.raw, []byte("s3cr3t-value")) {
			t.Errorf("%s: a credential was returned: %s", s.name, res.raw)
		}
	}

	// The created account in full.
	res := f.do("GET", la+"/user_12345", "a", nil)
	udf, _ := res.json["udf"].([]any)
	if len(udf) != 3 {
		t.Fatalf("udf = %v", res.json["udf"])
	}
	first := udf[0].(map[string]any)
	match(t, "udf[0]", first, map[string]any{"key_name": "plan", "key_value": "enterprise"})
	match(t, "udf[1]", udf[1].(map[string]any), map[string]any{"key_name": "seats", "key_value": 42})
	match(t, "udf[2]", udf[2].(map[string]any), map[string]any{"key_name": "trial", "key_value": false})
	for _, k := range []string{"_id", "associated_org", "createdAt", "updatedAt"} {
		if s, _ := res.json[k].(string); s == "" {
			t.Errorf("account has no %s: %s", k, res.raw)
		}
	}
	if _, err := time.Parse(time.RFC3339, res.json["createdAt"].(string)); err != nil {
		t.Errorf("createdAt: %v", err)
	}
}

func testUpsertAndList(t *testing.T, f *fixture) {
	res := f.do("PUT", la, "a", map[string]any{"linked_account_id": "u1", "name": "One", "udf": map[string]any{"plan": "pro", "seats": 5}})
	if res.status != 200 || res.json["new_account"] != true {
		t.Fatalf("upsert new: %d %s", res.status, res.raw)
	}
	// payload wins over flat fields; null removes a key; the array form is accepted.
	res = f.do("PUT", la, "a", map[string]any{"linked_account_id": "u1", "name": "flat",
		"payload": map[string]any{"name": "Payload", "udf": []any{map[string]any{"key_name": "plan", "key_value": nil}, map[string]any{"key_name": "region", "key_value": "eu"}}}})
	if res.status != 200 || res.json["new_account"] != false || res.json["name"] != "Payload" {
		t.Fatalf("upsert existing: %d %s", res.status, res.raw)
	}
	udf := res.json["udf"].([]any)
	if len(udf) != 2 || udf[0].(map[string]any)["key_name"] != "region" || udf[1].(map[string]any)["key_name"] != "seats" {
		t.Fatalf("merged udf = %v", udf)
	}
	res = f.do("PUT", la, "a", map[string]any{"payload": map[string]any{"linked_account_id": 5}})
	if res.status != 400 || res.json["field"] != "payload.linked_account_id" {
		t.Fatalf("bad payload: %d %s", res.status, res.raw)
	}

	for i := range 12 {
		r := f.do("POST", la, "a", map[string]any{"linked_account_id": fmt.Sprintf("acct-%02d", i), "name": fmt.Sprintf("Customer %d", i),
			"udf": map[string]any{"tier": []string{"gold", "silver"}[i%2]}})
		if r.status != 200 {
			t.Fatalf("create %d: %s", i, r.raw)
		}
	}
	// Offset paging in the documented shape.
	res = f.do("GET", la+"?page=2&limit=5", "a", nil)
	match(t, "page 2", res.json, map[string]any{"totalDocs": 13, "limit": 5, "totalPages": 3, "page": 2, "pagingCounter": 6,
		"hasPrevPage": true, "hasNextPage": true, "prevPage": 1, "nextPage": 3})
	if docs := res.json["docs"].([]any); len(docs) != 5 || docs[0].(map[string]any)["account_id"] != "acct-04" {
		t.Fatalf("page 2 docs: %v", docs)
	}
	// Cursor paging visits everything once.
	seen := map[string]bool{}
	path := la + "?limit=4"
	for range 10 {
		res = f.do("GET", path, "a", nil)
		if res.status != 200 {
			t.Fatalf("cursor page: %s", res.raw)
		}
		for _, d := range res.json["docs"].([]any) {
			id := d.(map[string]any)["account_id"].(string)
			if seen[id] {
				t.Fatalf("%s seen twice", id)
			}
			seen[id] = true
		}
		c, _ := res.json["next_cursor"].(string)
		if c == "" {
			break
		}
		path = la + "?limit=4&cursor=" + c
	}
	if len(seen) != 13 {
		t.Fatalf("cursor paging saw %d of 13", len(seen))
	}
	// Filters.
	res = f.do("GET", la+"?udf.tier=gold&q=customer", "a", nil)
	if res.json["totalDocs"] != float64(6) {
		t.Fatalf("udf+q filter: %s", res.raw)
	}
	res = f.do("GET", la+"?order=desc&limit=1", "a", nil)
	if d := res.json["docs"].([]any); d[0].(map[string]any)["account_id"] != "acct-11" {
		t.Fatalf("desc: %s", res.raw)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	res = f.do("GET", la+"?created_after="+future, "a", nil)
	if res.json["totalDocs"] != float64(0) {
		t.Fatalf("created_after future: %s", res.raw)
	}
	for q, field := range map[string]string{
		"limit=0": "limit", "limit=1001": "limit", "page=0": "page", "page=x": "page", "cursor=zzz": "cursor",
		"cursor=" + "MDFh": "cursor", "page=2&cursor=abc": "cursor", "created_after=yesterday": "created_after",
		"order=up": "order", "udf.a=1&udf.a=2": "udf.a", "include_total=maybe": "include_total", "page=100000": "page",
		// Huge pages once overflowed the offset and answered page 1.
		"page=9223372036854775807": "page", "page=1844674407370955163&limit=10": "page", "page=922337203685477581&limit=1000": "page",
		"page=99999999999999999999": "page", "page=10002&limit=10": "page",
	} {
		res := f.do("GET", la+"?"+q, "a", nil)
		if res.status != 400 || res.json["field"] != field {
			t.Errorf("?%s = %d %s, want 400 naming %s", q, res.status, res.raw, field)
		}
	}
	res = f.do("GET", la+"?include_total=false", "a", nil)
	if res.json["totalDocs"] != nil {
		t.Fatalf("include_total=false still counts: %s", res.raw)
	}
	// Audit, newest first, filtered by account.
	res = f.do("GET", "/api/v2/public/audit?linked_account_id=u1", "a", nil)
	docs := res.json["docs"].([]any)
	if len(docs) != 2 || docs[0].(map[string]any)["action"] != linkd.AuditAccountUpdate {
		t.Fatalf("audit: %s", res.raw)
	}
	match(t, "audit[0]", docs[0].(map[string]any), map[string]any{"fields": []string{"name", "udf.plan", "udf.region"}})
	if res := f.do("GET", "/api/v2/public/audit", "b", nil); len(res.json["docs"].([]any)) != 0 {
		t.Fatalf("another org reads this org's audit log: %s", res.raw)
	}
}

func testIdempotency(t *testing.T, f *fixture) {
	body := map[string]any{"linked_account_id": "idem-1", "name": "First"}
	first := f.do("POST", la, "a", body, "Idempotency-Key", "req-1")
	if first.status != 200 {
		t.Fatalf("first: %s", first.raw)
	}
	again := f.do("POST", la, "a", body, "Idempotency-Key", "req-1")
	if again.status != 200 || !bytes.Equal(again.raw, first.raw) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (replayed %q), want the first response", again.status, again.raw, again.header.Get("Idempotent-Replayed"))
	}
	other := f.do("POST", la, "a", map[string]any{"linked_account_id": "idem-2"}, "Idempotency-Key", "req-1")
	if other.status != 422 || other.json["field"] != "Idempotency-Key" || other.json["error"] != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("same key, other body: %d %s", other.status, other.raw)
	}
	// Without a key the retry is a duplicate; with another tenant's key it is new.
	if res := f.do("POST", la, "a", body); res.status != 400 {
		t.Fatalf("retry without key: %d", res.status)
	}
	if res := f.do("POST", la, "b", body, "Idempotency-Key", "req-1"); res.status != 200 || res.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("same key in another tenant: %d %s", res.status, res.raw)
	}
	// Refusals are answered the same way on retry too.
	bad := map[string]any{"linked_account_id": ""}
	r1 := f.do("POST", la, "a", bad, "Idempotency-Key", "req-bad")
	r2 := f.do("POST", la, "a", bad, "Idempotency-Key", "req-bad")
	if r1.status != 400 || r2.status != 400 || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("refused request retried: %d, %d", r1.status, r2.status)
	}
	if res := f.do("POST", la, "a", body, "Idempotency-Key", "bad key with spaces"); res.status != 400 || res.json["field"] != "Idempotency-Key" {
		t.Fatalf("malformed key: %d %s", res.status, res.raw)
	}
	// Concurrent retries create the account once.
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			statuses <- f.do("POST", la, "a", map[string]any{"linked_account_id": "idem-race"}, "Idempotency-Key", "race").status
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 && s != 409 {
			t.Fatalf("concurrent retry answered %d; want 200 (first or replay) or 409 (in progress)", s)
		}
	}
	res := f.do("GET", "/api/v2/public/audit?linked_account_id=idem-race", "a", nil)
	if n := len(res.json["docs"].([]any)); n != 1 {
		t.Fatalf("%d audit entries for a create retried concurrently", n)
	}
}

// testIdempotencyPerCaller: an Idempotency-Key is its caller's own. A
// session token of account A2 repeating the key the backend used for
// account A must neither get A's stored answer nor have its own write
// silently skipped (issue 9, item 8).
func testIdempotencyPerCaller(t *testing.T, f *fixture) {
	backend := map[string]any{"linked_account_id": "idem-a", "name": "Secret A", "udf": map[string]any{"plan": "gold-plan"}}
	if res := f.do("PUT", la, "a", backend, "Idempotency-Key", "shared"); res.status != 200 {
		t.Fatalf("backend upsert: %d %s", res.status, res.raw)
	}
	a2 := f.bearerFor("a", "idem-a2")
	allowRename(t, f, "a")
	// Its own request under the same key acts.
	res := f.do("PUT", la, a2, map[string]any{"name": "A2 renamed"}, "Idempotency-Key", "shared")
	if res.status != 200 || res.json["name"] != "A2 renamed" {
		t.Fatalf("session token's own write under the backend's key: %d %s", res.status, res.raw)
	}
	if got := f.do("GET", la+"/idem-a2", "a", nil); got.json["name"] != "A2 renamed" {
		t.Fatalf("A2's write was skipped: %s", got.raw)
	}
	// A2 under another key the backend used, with the backend's very body:
	// A's answer must not come back.
	if res := f.do("PUT", la, "a", backend, "Idempotency-Key", "shared-2"); res.status != 200 {
		t.Fatalf("backend upsert: %d %s", res.status, res.raw)
	}
	res = f.do("PUT", la, a2, backend, "Idempotency-Key", "shared-2")
	if res.header.Get("Idempotent-Replayed") != "" || bytes.Contains(res.raw, []byte("Secret A")) || bytes.Contains(res.raw, []byte("gold-plan")) {
		t.Fatalf("session token of A2 got A's stored answer: %d %s", res.status, res.raw)
	}
	// The same key on another route is another request.
	if res := f.do("POST", la, "a", map[string]any{"linked_account_id": "idem-b"}, "Idempotency-Key", "shared"); res.status != 200 || res.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("same key on another route: %d %s", res.status, res.raw)
	}
	// And the backend's record is intact.
	if res := f.do("PUT", la, "a", backend, "Idempotency-Key", "shared"); res.status != 200 || res.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("backend retry: %d %s", res.status, res.raw)
	}
}

// testIdempotencyAfterDelete: replaying the create's Idempotency-Key after
// the account was deleted must not return the deleted account's name and
// UDFs (issue 9, item 9).
func testIdempotencyAfterDelete(t *testing.T, f *fixture) {
	body := map[string]any{"linked_account_id": "del-1", "name": "Deleted Name", "udf": map[string]any{"plan": "deleted-plan"}}
	if res := f.do("POST", la, "a", body, "Idempotency-Key", "create-del-1"); res.status != 200 {
		t.Fatalf("create: %d %s", res.status, res.raw)
	}
	if res := f.do("PUT", la, "a", map[string]any{"linked_account_id": "del-1", "name": "Deleted Name 2"}, "Idempotency-Key", "put-del-1"); res.status != 200 {
		t.Fatalf("upsert: %d %s", res.status, res.raw)
	}
	if res := f.do("DELETE", la+"/del-1", "a", nil); res.status != 200 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	for _, c := range []struct{ method, key string }{{"POST", "create-del-1"}, {"PUT", "put-del-1"}} {
		b := body
		if c.method == "PUT" {
			b = map[string]any{"linked_account_id": "del-1", "name": "Deleted Name 2"}
		}
		res := f.do(c.method, la, "a", b, "Idempotency-Key", c.key)
		if res.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s replayed after the account was deleted: %s", c.method, res.raw)
		}
		f.do("DELETE", la+"/del-1", "a", nil)
	}
}

// allowRename lets session tokens of key's tenant rename their account
// (off by default).
func allowRename(t *testing.T, f *fixture, key string) {
	t.Helper()
	if res := f.do("PUT", "/api/v2/public/org/settings", key, map[string]any{"session_token_may_rename": true}); res.status != 200 {
		t.Fatalf("allow rename: %d %s", res.status, res.raw)
	}
}

func testRateLimit(t *testing.T, f *fixture) {
	// 1 request/s with a burst of 2: the third request at once is refused.
	var last response
	for range 3 {
		last = f.do("GET", la, "a", nil)
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" || last.json["http_error_type"] != "TOO_MANY_REQUESTS" {
		t.Fatalf("third request: %d %s (Retry-After %q)", last.status, last.raw, last.header.Get("Retry-After"))
	}
	// Another key has its own bucket.
	if res := f.do("GET", la, "b", nil); res.status != 200 {
		t.Fatalf("another key limited too: %d", res.status)
	}
}

func testOperations(t *testing.T, f *fixture) {
	if res := f.do("GET", "/healthz", "", nil); res.status != 200 {
		t.Fatalf("healthz: %d", res.status)
	}
	if res := f.do("GET", "/readyz", "", nil); res.status != 200 || res.json["status"] != "ok" {
		t.Fatalf("readyz: %d %s", res.status, res.raw)
	}
	f.do("GET", la+"/someone", "a", nil)
	res := f.do("GET", "/metrics", "", nil)
	if res.status != 200 || !bytes.Contains(res.raw, []byte(`linkd_http_requests_total{method="GET",route="GET /api/v2/public/linked-account/{linked_account_id}",status="404"} 1`)) ||
		!bytes.Contains(res.raw, []byte("linkd_http_request_duration_seconds_bucket")) {
		t.Fatalf("metrics lack the request series:\n%s", res.raw)
	}
	// A caller's request id is kept; a hostile one is replaced.
	res = f.do("GET", "/healthz", "", nil, "X-Request-Id", "trace-123")
	if res.header.Get("X-Request-Id") != "trace-123" {
		t.Fatalf("request id not kept: %q", res.header.Get("X-Request-Id"))
	}
	res = f.do("GET", "/healthz", "", nil, "X-Request-Id", "bad id\twith tab")
	if id := res.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("hostile request id echoed: %q", id)
	}
}

// testNothingHalfWritten sends a storm of bad writes and checks that the
// tenant's data is exactly what the good ones made.
func testNothingHalfWritten(t *testing.T, f *fixture) {
	f.do("POST", la, "a", map[string]any{"linked_account_id": "keep", "name": "Keep", "udf": map[string]any{"a": 1}})
	bad := []any{
		map[string]any{"linked_account_id": "keep", "name": "Overwritten?"},
		map[string]any{"linked_account_id": "new", "udf": map[string]any{"ok": 1, "bad": []int{1}}},
		map[string]any{"linked_account_id": "new2", "name": "x", "your_app": map[string]any{}},
		`{"linked_account_id":"new3","udf":{"a":1}`,
	}
	for _, b := range bad {
		if res := f.do("POST", la, "a", b); res.status != 400 {
			t.Fatalf("bad write accepted: %d %s", res.status, res.raw)
		}
	}
	if res := f.do("PUT", la, "a", map[string]any{"linked_account_id": "keep", "name": "Changed", "udf": map[string]any{"b": map[string]any{}}}); res.status != 400 {
		t.Fatalf("bad upsert accepted: %d", res.status)
	}
	res := f.do("GET", la, "a", nil)
	docs := res.json["docs"].([]any)
	if res.json["totalDocs"] != float64(1) || len(docs) != 1 {
		t.Fatalf("after bad writes: %s", res.raw)
	}
	match(t, "kept", docs[0].(map[string]any), map[string]any{"account_id": "keep", "name": "Keep"})
	if udf := docs[0].(map[string]any)["udf"].([]any); len(udf) != 1 {
		t.Fatalf("udf after bad writes: %v", udf)
	}
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}
