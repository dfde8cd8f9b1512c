package http_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
)

// upstream is an app's API on loopback: it records what reaches it and
// answers by path.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	seen  []*http.Request
	flaky atomic.Int32 // /v1/flaky answers 503 this many more times
	// tokenOK, when set, checks an OAuth bearer token.
	tokenOK func(token string) bool
}

// echo is what /v1/echo answers: the request as the app saw it.
type echo struct {
	Method, Path, RawPath, Query string
	Header                       http.Header
	BodyLen                      int
	BodySHA                      string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r)
		tokenOK := u.tokenOK
		u.mu.Unlock()
		if tokenOK != nil {
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !tokenOK(tok) {
				http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
				return
			}
		}
		sum := sha256.Sum256(body)
		switch {
		case r.URL.Path == "/v1/bin":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Header().Set("Set-Cookie", "app_session=1; Path=/")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("X-RateLimit-Remaining", "41")
			w.WriteHeader(http.StatusCreated)
			w.Write(binaryBody)
		case r.URL.Path == "/v1/flaky":
			if u.flaky.Add(-1) >= 0 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, "ok")
		case r.URL.Path == "/v1/later":
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case r.URL.Path == "/v1/redirect":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		case r.URL.Path == "/v1/hang":
			<-r.Context().Done()
		default:
			json.NewEncoder(w).Encode(echo{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
				Header: r.Header, BodyLen: len(body), BodySHA: hex.EncodeToString(sum[:])})
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) hits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// binaryBody is every byte value, twice: what a JPEG proxy bug mangles.
var binaryBody = func() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// keyApp is a key-based app whose API is u, sending the key in X-Key.
func keyApp(u *upstream) string {
	return `  - slug: keyapp
    name: Key App
    auth_type: keybased
    enabled_by_default: true
    auth_inputs:
      - {name: key, label: Key, type: password, required: true}
    proxy:
      base_url: ` + u.URL + `/v1
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "Token {{fields.key}}"}
      headers: {X-Api-Version: "7"}
`
}

// newProxyFixture is a server with keyapp, and cust connected to it.
func newProxyFixture(t *testing.T, store linkd.Store) (*fixture, *upstream) {
	u := newUpstream(t)
	f := startFixture(t, store, 0, false, keyApp(u))
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "C"})
	if res := f.do("PUT", la+"/integration/save-key-credentials/keyapp?linked_account_id=cust", "a", map[string]any{"key": "k-123"}); res.status != 200 {
		t.Fatalf("save keys: %d %s", res.status, res.raw)
	}
	return f, u
}

const px = "/api/v2/public/proxy/keyapp"

// TestProxyForwards: the key goes in as the catalog says, the caller's own
// credentials and linkd's headers do not, everything else goes through
// unchanged, and the app's answer comes back byte for byte without its
// cookies and CORS grants.
func TestProxyForwards(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, _ := newProxyFixture(t, store)
		res := f.do("POST", px+"/items/a%2Fb?x=1&linked_account_id=cust&y=%20z", "a", []byte(`{"n":1}`),
			"Authorization", "Bearer caller-secret", "Cookie", "s=1", "X-Forwarded-For", "1.2.3.4", "X-Custom", "kept",
			"Idempotency-Key", "idem-1", "linkd-proxy-retries", "0", "Content-Type", "application/json")
		var e echo
		mustJSON(t, res.raw, &e)
		if res.status != 200 || e.Method != "POST" || e.RawPath != "/v1/items/a%2Fb" || e.Query != "x=1&y=%20z" || e.BodyLen != 7 {
			t.Fatalf("forwarded: %d %+v", res.status, e)
		}
		want := map[string]string{"X-Key": "Token k-123", "X-Custom": "kept", "Idempotency-Key": "idem-1", "X-Api-Version": "7", "Content-Type": "application/json"}
		for k, v := range want {
			if got := e.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"Authorization", "Cookie", "X-Forwarded-For", "X-Api-Key", "Linked_account_id", "Linkd-Proxy-Retries"} {
			if v := e.Header.Get(k); v != "" {
				t.Errorf("header %s reached the app: %q", k, v)
			}
		}
		if strings.Contains(string(res.raw), f.keys["a"]) {
			t.Fatal("the caller's API key reached the app")
		}
		if res.header.Get("linkd-proxy-attempts") != "1" || res.header.Get("linkd-proxy-error") != "" {
			t.Fatalf("headers: %v", res.header)
		}
		// The account by header, as the reference's clients send it; the
		// caller's default header does not override the catalog's key.
		res = f.do("GET", px+"/echo", "a", nil, "linked_account_id", "cust", "X-Key", "forged", "X-Api-Version", "9")
		mustJSON(t, res.raw, &e)
		if res.status != 200 || e.Header.Get("X-Key") != "Token k-123" || e.Header.Get("X-Api-Version") != "9" {
			t.Fatalf("by header: %d %+v", res.status, e.Header)
		}

		res = f.do("GET", px+"/bin?linked_account_id=cust", "a", nil)
		if res.status != 201 || !bytes.Equal(res.raw, binaryBody) || res.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("binary: %d %q %d bytes", res.status, res.header.Get("Content-Type"), len(res.raw))
		}
		if res.header.Get("Set-Cookie") != "" || res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("the app's cookie or CORS grant reached the caller: %v", res.header)
		}
		if res.header.Get("ETag") != `"v1"` || res.header.Get("X-RateLimit-Remaining") != "41" || res.header.Get("Content-Length") != "512" {
			t.Fatalf("the app's headers: %v", res.header)
		}
	})
}

// TestProxyRefuses: what linkd refuses says so (linkd-proxy-error) and
// never reaches the app.
func TestProxyRefuses(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newProxyFixture(t, store)
		f.do("POST", la, "a", map[string]any{"linked_account_id": "other", "name": "O"})
		for _, c := range []struct {
			name, method, path, key string
			headers                 []string
			status                  int
		}{
			{"session token", "GET", px + "/echo", f.bearerFor("a", "cust"), nil, 403},
			{"no account", "GET", px + "/echo", "a", nil, 400},
			{"not connected", "GET", px + "/echo?linked_account_id=other", "a", nil, 404},
			{"unknown account", "GET", px + "/echo?linked_account_id=ghost", "a", nil, 404},
			{"another org", "GET", px + "/echo?linked_account_id=cust", "b", nil, 404},
			{"unknown app", "GET", "/api/v2/public/proxy/nope/echo?linked_account_id=cust", "a", nil, 404},
			{"app without a proxy block", "GET", "/api/v2/public/proxy/stripe/v1/customers?linked_account_id=cust", "a", nil, 404},
			{"bad retries", "GET", px + "/echo?linked_account_id=cust", "a", []string{"linkd-proxy-retries", "9"}, 400},
			{"dot-dot encoded", "GET", px + "/%2e%2e/secret?linked_account_id=cust", "a", nil, 400},
			{"dot-dot upper", "GET", px + "/a/%2E%2E/%2E%2E/secret?linked_account_id=cust", "a", nil, 400},
			{"backslash", "GET", px + "/a%5c..%5csecret?linked_account_id=cust", "a", nil, 400},
			{"control character", "GET", px + "/a%0d%0aX-Injected:%201?linked_account_id=cust", "a", nil, 400},
		} {
			before := u.hits()
			res := f.do(c.method, c.path, c.key, nil, c.headers...)
			if res.status != c.status || u.hits() != before {
				t.Errorf("%s: %d %s (app hit %d times), want %d", c.name, res.status, res.raw, u.hits()-before, c.status)
			}
			if res.status >= 400 && res.status != 403 && res.header.Get("linkd-proxy-error") != "true" && c.name != "unknown app" {
				t.Errorf("%s: no linkd-proxy-error header", c.name)
			}
		}
		// An app's redirect is its answer, passed back, not followed.
		req, _ := http.NewRequest("GET", f.url+px+"/redirect?linked_account_id=cust", nil)
		req.Header.Set("x-api-key", f.keys["a"])
		res, err := browser(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 302 || res.Header.Get("Location") != "http://elsewhere.invalid/" || res.Header.Get("linkd-proxy-error") != "" {
			t.Fatalf("redirect: %d %v", res.StatusCode, res.Header)
		}
	})
}

// TestProxyRetries: safe calls are repeated on 5xx; unsafe ones are not;
// a long Retry-After goes back to the caller at once.
func TestProxyRetries(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newProxyFixture(t, store)
		u.flaky.Store(2)
		res := f.do("GET", px+"/flaky?linked_account_id=cust", "a", nil)
		if res.status != 200 || res.header.Get("linkd-proxy-attempts") != "3" {
			t.Fatalf("GET after two 503s: %d, attempts %s", res.status, res.header.Get("linkd-proxy-attempts"))
		}
		u.flaky.Store(1)
		res = f.do("POST", px+"/flaky?linked_account_id=cust", "a", []byte("x"))
		if res.status != 503 || res.header.Get("linkd-proxy-attempts") != "1" {
			t.Fatalf("POST without Idempotency-Key: %d, attempts %s", res.status, res.header.Get("linkd-proxy-attempts"))
		}
		u.flaky.Store(1)
		res = f.do("POST", px+"/flaky?linked_account_id=cust", "a", []byte("x"), "Idempotency-Key", "k1")
		if res.status != 200 || res.header.Get("linkd-proxy-attempts") != "2" {
			t.Fatalf("POST with Idempotency-Key: %d, attempts %s", res.status, res.header.Get("linkd-proxy-attempts"))
		}
		u.flaky.Store(5)
		res = f.do("GET", px+"/flaky?linked_account_id=cust", "a", nil, "linkd-proxy-retries", "0")
		if res.status != 503 || res.header.Get("linkd-proxy-attempts") != "1" {
			t.Fatalf("retries 0: %d, attempts %s", res.status, res.header.Get("linkd-proxy-attempts"))
		}
		res = f.do("GET", px+"/later?linked_account_id=cust", "a", nil)
		if res.status != 429 || res.header.Get("Retry-After") != "3600" || res.header.Get("linkd-proxy-attempts") != "1" {
			t.Fatalf("Retry-After 3600: %d %v", res.status, res.header)
		}
	})
}

// TestProxyBodies: bodies over the replay limit stream through once and
// intact; over the proxy's limit they are refused before the app sees
// them.
func TestProxyBodies(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newProxyFixture(t, store)
		big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: streamed, not kept for retries
		sum := sha256.Sum256(big)
		res := f.do("PUT", px+"/upload?linked_account_id=cust", "a", big)
		var e echo
		mustJSON(t, res.raw, &e)
		if res.status != 200 || e.BodyLen != len(big) || e.BodySHA != hex.EncodeToString(sum[:]) {
			t.Fatalf("3 MiB upload: %d, %d bytes", res.status, e.BodyLen)
		}
		before := u.hits()
		res = f.do("PUT", px+"/upload?linked_account_id=cust", "a", bytes.Repeat([]byte("x"), 5<<20))
		if res.status != 413 || u.hits() != before || res.header.Get("linkd-proxy-error") != "true" {
			t.Fatalf("5 MiB over a 4 MiB limit: %d %s", res.status, res.raw)
		}
	})
}

// TestProxyTimeoutAndGuard: an app that does not answer is a 504; an app
// on an address the operator did not allow is refused at dial time.
func TestProxyTimeoutAndGuard(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newProxyFixture(t, store)
		c := f.caller
		short := &proxy.Caller{Connections: c.Connections, Catalog: c.Catalog, Client: c.Client, Timeout: 300 * time.Millisecond}
		guarded := &proxy.Caller{Connections: c.Connections, Catalog: c.Catalog, Client: outbound.NewClient(outbound.Options{})}
		for _, s := range []struct {
			name   string
			caller *proxy.Caller
			path   string
			status int
			errTyp string
		}{
			{"timeout", short, "/hang", 504, "UPSTREAM_TIMEOUT"},
			{"loopback not allowed", guarded, "/echo", 403, "HOST_NOT_ALLOWED"},
		} {
			srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: linkd.NewServices(store, f.accounts.Keys, ""), Connections: c.Connections, Apps: s.caller})
			ts := httptest.NewServer(srv.Handler())
			before := u.hits()
			req, _ := http.NewRequest("GET", ts.URL+px+s.path+"?linked_account_id=cust", nil)
			req.Header.Set("x-api-key", f.keys["a"])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body linkdhttp.ErrorBody
			decodeJSON(t, res.Body, &body)
			res.Body.Close()
			if res.StatusCode != s.status || body.Error != s.errTyp || res.Header.Get("linkd-proxy-error") != "true" {
				t.Errorf("%s: %d %+v", s.name, res.StatusCode, body)
			}
			if s.name == "loopback not allowed" && u.hits() != before {
				t.Errorf("%s: the app was reached", s.name)
			}
			ts.Close()
			srv.Close()
		}
	})
}

// TestProxyOAuth: an OAuth app's token goes as a bearer token; when the app
// answers 401 (the token was revoked early), linkd refreshes once and
// retries once; when the grant is gone, the app's 401 comes back, no loop.
func TestProxyOAuth(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		u := newUpstream(t)
		f := startFixture(t, store, 0, true, "    proxy:\n      base_url: "+u.URL+"/v1\n      allowed_hosts: [127.0.0.1]\n")
		u.mu.Lock()
		u.tokenOK = func(tok string) bool {
			_, err := f.provider.Manager.LoadAccessToken(t.Context(), tok)
			return err == nil
		}
		u.mu.Unlock()
		f.connectTestprov()
		const tp = "/api/v2/public/proxy/testprov/echo?linked_account_id=cust"
		res := f.do("GET", tp, "a", nil)
		var e echo
		mustJSON(t, res.raw, &e)
		_, sec := f.secrets("testprov")
		if res.status != 200 || e.Header.Get("Authorization") != "Bearer "+sec.AccessToken || res.header.Get("linkd-proxy-attempts") != "1" {
			t.Fatalf("first call: %d %s", res.status, res.raw)
		}
		// The provider drops the access token before its expiry.
		if err := f.provider.Manager.RemoveAccessToken(t.Context(), sec.AccessToken); err != nil {
			t.Fatal(err)
		}
		res = f.do("GET", tp, "a", nil)
		_, fresh := f.secrets("testprov")
		if res.status != 200 || res.header.Get("linkd-proxy-attempts") != "2" || f.provider.Refreshes.Load() != 1 || fresh.AccessToken == sec.AccessToken {
			t.Fatalf("after a 401: %d, attempts %s, refreshes %d", res.status, res.header.Get("linkd-proxy-attempts"), f.provider.Refreshes.Load())
		}
		// The grant ends at the provider: one refresh is tried, and the
		// app's 401 is the answer.
		f.provider.Manager.RemoveAccessToken(t.Context(), fresh.AccessToken)
		f.provider.Manager.RemoveRefreshToken(t.Context(), fresh.RefreshToken)
		before := u.hits()
		res = f.do("GET", tp, "a", nil)
		if res.status != 401 || u.hits()-before != 1 || f.provider.Refreshes.Load() != 2 {
			t.Fatalf("grant gone: %d, %d app hits, %d refreshes", res.status, u.hits()-before, f.provider.Refreshes.Load())
		}
		// Both 401s made linkd refresh: the metric counts them.
		page := f.do("GET", "/metrics", "", nil).raw
		if want := `linkd_app_call_refreshes_total{app="testprov"} 2`; !strings.Contains(string(page), want+"\n") {
			t.Fatalf("/metrics lacks %s: %s", want, series(page, "linkd_app_call_refreshes_total"))
		}
		// The connection is now expired, and the proxy says so itself.
		res = f.do("GET", tp, "a", nil)
		if res.status != 409 || res.json["error"] != "CONNECTION_EXPIRED" || res.header.Get("linkd-proxy-error") != "true" {
			t.Fatalf("expired: %d %s", res.status, res.raw)
		}
	})
}
