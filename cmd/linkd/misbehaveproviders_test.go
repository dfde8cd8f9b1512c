package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// TestReliabilityMisbehavingProviders runs the real binary with one
// tenant's OAuth providers misbehaving when linkd refreshes tokens (the
// token endpoint hangs, answers 500, answers JSON that is not JSON, or
// refuses the grant with invalid_grant) and another tenant's provider
// healthy. Refreshes are made both by the background refresher and on
// demand (the credentials route, the proxy before a call and after the
// app's 401). What must hold: every refresh attempt ends within its
// timeout (the token client's 30 s; a proxied call within the proxy's
// timeout); a transient failure leaves the connection active with the
// failure counted, invalid_grant marks it expired (reauth_required); and
// the healthy tenant's refreshes go on at once while the bad ones hang.
func TestReliabilityMisbehavingProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for name, tenv := range engines(t) {
		t.Run(name, func(t *testing.T) { testMisbehavingProviders(t, bin, tenv) })
	}
}

// tokenTimeout is the token client's whole-call timeout (serve.go).
const tokenTimeout = 30 * time.Second

// badProvider serves one token endpoint per way of misbehaving:
// /{mode}/token. It records when each refresh began and ended (the
// handler sees linkd hang up).
type badProvider struct {
	*httptest.Server
	release chan struct{}
	mu      sync.Mutex
	calls   map[string][]*tokenCall // mode -> calls
	issued  atomic.Int64
}

type tokenCall struct {
	refreshToken string
	start        time.Time
	end          atomic.Pointer[time.Time]
}

func (b *badProvider) byMode(mode string) []*tokenCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*tokenCall(nil), b.calls[mode]...)
}

// ended counts the calls of mode that ended, and returns the longest.
func (b *badProvider) ended(mode string) (n int, longest time.Duration) {
	for _, c := range b.byMode(mode) {
		if e := c.end.Load(); e != nil {
			n++
			longest = max(longest, e.Sub(c.start))
		}
	}
	return n, longest
}

func newBadProvider(t *testing.T) *badProvider {
	b := &badProvider{release: make(chan struct{}), calls: map[string][]*tokenCall{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/token")
		if !ok || r.FormValue("grant_type") != "refresh_token" {
			http.Error(w, "not here", 404)
			return
		}
		c := &tokenCall{refreshToken: r.FormValue("refresh_token"), start: time.Now()}
		defer func() { now := time.Now(); c.end.Store(&now) }()
		b.mu.Lock()
		b.calls[mode] = append(b.calls[mode], c)
		b.mu.Unlock()
		switch mode {
		case "hang":
			select {
			case <-r.Context().Done():
			case <-b.release:
			}
		case "500":
			http.Error(w, "Internal Server Error", 500)
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token": "tok`))
		case "invalid":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`))
		case "good":
			n := b.issued.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"fresh-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"r-fresh-%d"}`, n, n)
		}
	}))
	t.Cleanup(func() { close(b.release); b.CloseClientConnections(); b.Close() })
	return b
}

// providerModes are the bad tenant's providers; "good" is the other
// tenant's.
var providerModes = []string{"hang", "500", "garbage", "invalid"}

func providersCatalog(t *testing.T, prov, api string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, m := range append(providerModes, "good") {
		fmt.Fprintf(&b, `  - slug: prov-%[1]s
    name: Provider %[1]s
    auth_type: oauth2
    oauth2:
      authorize_url: %[2]s/%[1]s/authorize
      token_url: %[2]s/%[1]s/token
      scopes: [read]
      auth_style: header
    proxy:
      base_url: %[3]s/api
      allowed_hosts: [127.0.0.1]
`, m, prov, api)
	}
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testMisbehavingProviders(t *testing.T, bin string, tenv testEnv) {
	prov := newBadProvider(t)
	// The apps' API: a stale token gets 401 (which makes the proxy
	// refresh), any other answers 200.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		if r.Header.Get("Authorization") == "Bearer stale" {
			http.Error(w, `{"error":"token expired"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)

	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
		"LINKD_APPS": providersCatalog(t, prov.URL, api.URL), "LINKD_PROXY_TIMEOUT": appsProxyTimeout.String(),
		"LINKD_ENCRYPTION_KEY": strings.Repeat("5f", 32)}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	keys := map[string]string{}
	for _, e := range []string{"test", "production"} {
		k, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", e)
		if err != nil {
			t.Fatalf("apikey create: %v\n%s", err, stderr)
		}
		keys[e] = strings.TrimSpace(k)
	}
	p := startLinkd(t, bin, env, base)

	req := func(key, method, path, account, body string) (int, map[string]any, time.Duration) {
		t.Helper()
		start := time.Now()
		r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		r.Header.Set("x-api-key", key)
		r.Header.Set("Content-Type", "application/json")
		if account != "" {
			r.Header.Set("linked_account_id", account)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, nil, time.Since(start)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return res.StatusCode, out, time.Since(start)
	}
	setup := func(key, method, path, body string) {
		t.Helper()
		if st, out, _ := req(key, method, path, "", body); st != 200 {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
	}
	// connectTo creates an account connected to prov-mode with a grant
	// whose access token expires at exp.
	connectTo := func(key, account, mode, access string, exp time.Time) {
		t.Helper()
		setup(key, "POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+account+`"}`)
		setup(key, "PUT", "/api/v2/public/migrate-token", fmt.Sprintf(`{"linked_account_id":%q,"slug":"prov-%s","auth_object":
			{"access_token":%q,"refresh_token":"r-%s","token_type":"Bearer","expires_at":%q}}`, account, mode, access, account, exp.UTC().Format(time.RFC3339)))
	}
	for _, m := range providerModes {
		setup(keys["test"], "PUT", "/api/v2/public/application/prov-"+m+"/settings", `{"enabled":true,"client_id":"c-bad","client_secret":"s-bad"}`)
	}
	setup(keys["production"], "PUT", "/api/v2/public/application/prov-good/settings", `{"enabled":true,"client_id":"c-good","client_secret":"s-good"}`)

	// For the background refresher: the bad tenant's tokens expired
	// before the good one's (so they are claimed first), six of them at
	// the provider that hangs (more than the refresher runs at once).
	// Those of the providers that fail at once expired first, so that
	// the tenant's own hangs do not hold them back.
	now := time.Now()
	for _, m := range providerModes[1:] {
		connectTo(keys["test"], "bg-"+m, m, "old", now.Add(-3*time.Hour))
	}
	const hangs = 6
	for i := range hangs {
		connectTo(keys["test"], fmt.Sprintf("bg-hang-%d", i), "hang", "old", now.Add(-2*time.Hour))
	}
	const goods = 3
	for i := range goods {
		connectTo(keys["production"], fmt.Sprintf("bg-good-%d", i), "good", "old", now.Add(time.Minute))
	}
	// For refreshes on demand: tokens valid for an hour (the refresher
	// leaves them), which the app refuses as stale.
	for _, m := range providerModes {
		connectTo(keys["test"], "od-"+m, m, "stale", now.Add(time.Hour))
	}
	connectTo(keys["test"], "od-hang-proxy", "hang", "stale", now.Add(time.Hour))
	connectTo(keys["production"], "od-good", "good", "stale", now.Add(time.Hour))

	// Restarted, the refresher claims what is due at once (rather than
	// at its next poll, 30 s away).
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	restart := time.Now()
	p = startLinkd(t, bin, env, base)

	// On demand, all at once, while the refresher works.
	type outcome struct {
		name    string
		status  int
		errType string
		took    time.Duration
	}
	var wg sync.WaitGroup
	outcomes := make(chan outcome, 16)
	credentials := func(key, account, mode string) {
		st, out, took := req(key, "GET", "/api/v2/public/linked-account/"+account+"/connection/prov-"+mode+"/credentials?force_refresh=true", "", "")
		outcomes <- outcome{"credentials " + account, st, fmt.Sprint(out["error"]), took}
	}
	for _, m := range providerModes {
		wg.Go(func() { credentials(keys["test"], "od-"+m, m) })
	}
	wg.Go(func() {
		// The app answers 401 to the stale token; the proxy refreshes
		// once, and the provider hangs.
		st, out, took := req(keys["test"], "GET", "/api/v2/public/proxy/prov-hang/items", "od-hang-proxy", "")
		outcomes <- outcome{"proxy 401 od-hang-proxy", st, fmt.Sprint(out["error"]), took}
	})
	wg.Go(func() {
		// The token has expired: the proxy refreshes before calling,
		// and the provider hangs (or the refresher holds the lease).
		st, out, took := req(keys["test"], "GET", "/api/v2/public/proxy/prov-hang/items", "bg-hang-5", "")
		outcomes <- outcome{"proxy expired bg-hang-5", st, fmt.Sprint(out["error"]), took}
	})
	// The healthy tenant, on demand: a forced refresh answers at once,
	// and the proxy's refresh after a 401 works.
	var goodOnDemand []time.Duration
	for i := range 5 {
		st, out, took := req(keys["production"], "GET", "/api/v2/public/linked-account/bg-good-0/connection/prov-good/credentials?force_refresh=true", "", "")
		if st != 200 || !strings.HasPrefix(fmt.Sprint(out["access_token"]), "fresh-") {
			t.Errorf("healthy forced refresh %d: %d %v", i, st, out)
		}
		goodOnDemand = append(goodOnDemand, took)
	}
	if st, out, _ := req(keys["production"], "GET", "/api/v2/public/proxy/prov-good/items", "od-good", ""); st != 200 {
		t.Errorf("healthy proxied call after a 401: %d %v", st, out)
	}

	// The background refresher: the healthy tenant's tokens are
	// refreshed at once, while the bad tenant's refreshes hang.
	f := newFlags("serve", func(k string) string { return settings[k] }, io.Discard)
	if err := f.parse(nil); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	org, _, err := ensureOrg(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	badT, goodT := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvProduction}
	conn := func(tn linkd.Tenant, account string) *linkd.Connection {
		t.Helper()
		_, cs, err := store.Connections(ctx, tn, account)
		if err != nil || len(cs) != 1 {
			t.Fatalf("connections of %s: %v %v", account, cs, err)
		}
		return cs[0]
	}
	var goodAt time.Duration
	for deadline := time.Now().Add(15 * time.Second); ; {
		done := 0
		for i := range goods {
			if c := conn(goodT, fmt.Sprintf("bg-good-%d", i)); c.LastRefreshAt != nil && c.RefreshFailures == 0 && c.TokenExpiresAt.After(now.Add(30*time.Minute)) {
				done++
			}
		}
		if done == goods {
			goodAt = time.Since(restart)
			break
		}
		if time.Now().After(deadline) {
			n, _ := prov.ended("hang")
			t.Fatalf("%d of %d healthy background refreshes done 15 s after the start (%d hanging refreshes open, %d ended)\n%s",
				done, goods, len(prov.byMode("hang"))-n, n, p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	hangOpen := len(prov.byMode("hang"))
	if n, _ := prov.ended("hang"); hangOpen-n == 0 {
		t.Errorf("no refresh was hanging when the healthy ones were done: the test proves nothing")
	} else {
		t.Logf("healthy tenant: %d background refreshes done %v after the start, with %d refreshes hanging", goods, goodAt.Round(time.Millisecond), hangOpen-n)
	}
	t.Logf("healthy tenant: forced refreshes on demand took %v", goodOnDemand)

	// The hanging refreshes begun by now (those of the refresher's first
	// claims and the ones on demand) are waited for below.
	started := len(prov.byMode("hang"))

	// On demand: each ends within its timeout, in a clear error.
	wg.Wait()
	close(outcomes)
	want := map[string]struct {
		status  int
		errType string
		within  time.Duration
	}{
		"credentials od-hang":     {502, "REFRESH_FAILED", tokenTimeout + 3*time.Second},
		"credentials od-500":      {502, "REFRESH_FAILED", 3 * time.Second},
		"credentials od-garbage":  {502, "REFRESH_FAILED", 3 * time.Second},
		"credentials od-invalid":  {409, "CONNECTION_EXPIRED", 3 * time.Second},
		"proxy 401 od-hang-proxy": {504, "UPSTREAM_TIMEOUT", appsProxyTimeout + 1500*time.Millisecond},
		"proxy expired bg-hang-5": {504, "UPSTREAM_TIMEOUT", appsProxyTimeout + 1500*time.Millisecond},
	}
	for o := range outcomes {
		w := want[o.name]
		t.Logf("%s: %d %s after %v", o.name, o.status, o.errType, o.took.Round(time.Millisecond))
		if o.status != w.status || o.errType != w.errType || o.took > w.within {
			t.Errorf("%s: %d %s after %v; want %d %s within %v", o.name, o.status, o.errType, o.took, w.status, w.errType, w.within)
		}
	}

	// Every hanging refresh begun ends by the token client's timeout.
	for deadline := time.Now().Add(tokenTimeout + 10*time.Second); ; {
		if n, _ := prov.ended("hang"); n >= started {
			break
		}
		if time.Now().After(deadline) {
			n, _ := prov.ended("hang")
			t.Fatalf("%d of %d hanging refreshes still open %v after they began\n%s", started-n, started, tokenTimeout+10*time.Second, p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	n, longest := prov.ended("hang")
	t.Logf("hanging provider: %d refreshes ended, the longest after %v", n, longest.Round(time.Millisecond))
	if longest > tokenTimeout+2*time.Second {
		t.Errorf("a hanging refresh lasted %v; the token client's timeout is %v", longest, tokenTimeout)
	}

	// What the connections say now. The records are written just after
	// the provider sees the end: wait for them.
	waitFor(t, "the failed refreshes to be recorded", func() bool {
		for _, a := range []string{"bg-500", "bg-garbage", "od-500", "od-garbage"} {
			if conn(badT, a).RefreshFailures == 0 {
				return false
			}
		}
		return true
	})
	// A transient failure is counted and the connection stays active
	// (until connect.MaxRefreshFailures in a row: the refresher tries
	// again every 30 s, so a background one may have failed more than
	// once by now). On demand, each was refreshed once.
	for _, a := range []string{"bg-500", "bg-garbage", "od-500", "od-garbage", "od-hang", "od-hang-proxy"} {
		c := conn(badT, a)
		wantFailures := c.RefreshFailures == 1
		if strings.HasPrefix(a, "bg-") {
			wantFailures = c.RefreshFailures >= 1 && c.RefreshFailures < connect.MaxRefreshFailures
		}
		if c.Status != linkd.ConnActive || !wantFailures || c.LastRefreshError == "" {
			t.Errorf("%s after a transient failure: status %s, %d failures, error %q; want active, failures counted", a, c.Status, c.RefreshFailures, c.LastRefreshError)
		}
		t.Logf("%s: %s, %d failures: %q", a, c.Status, c.RefreshFailures, c.LastRefreshError)
	}
	tried := 0
	for i := range hangs {
		c := conn(badT, fmt.Sprintf("bg-hang-%d", i))
		if c.Status != linkd.ConnActive {
			t.Errorf("bg-hang-%d is %s after hanging refreshes; want active", i, c.Status)
		}
		if c.RefreshFailures > 0 {
			tried++
		}
	}
	if tried == 0 {
		t.Errorf("no background refresh of a hanging provider was recorded as failed")
	}
	for _, a := range []string{"bg-invalid", "od-invalid"} {
		c := conn(badT, a)
		if c.Status != linkd.ConnExpired {
			t.Errorf("%s after invalid_grant: %s; want %s", a, c.Status, linkd.ConnExpired)
		}
		acct := getJSON(t, base+"/api/v2/public/linked-account/"+a, keys["test"])
		integ, _ := acct["integrations"].([]any)
		if len(integ) != 1 || integ[0].(map[string]any)["reauth_required"] != true {
			t.Errorf("%s after invalid_grant: the account shows %v; want reauth_required", a, integ)
		}
	}
	for i := range goods {
		if c := conn(goodT, fmt.Sprintf("bg-good-%d", i)); c.Status != linkd.ConnActive || c.RefreshFailures != 0 {
			t.Errorf("bg-good-%d: %s, %d failures", i, c.Status, c.RefreshFailures)
		}
	}
	t.Logf("the hanging provider was called %d times for %d background connections", len(prov.byMode("hang")), hangs)

	// The long run: a provider that keeps failing ends the grant after
	// connect.MaxRefreshFailures attempts in a row (one each
	// connect.RefreshRetry), and the customer is asked to reconnect.
	if os.Getenv("LINKD_TEST_LONG") == "" {
		return
	}
	start := time.Now()
	for deadline := start.Add(time.Duration(connect.MaxRefreshFailures+2) * connect.RefreshRetry); ; {
		c500, cGarbage := conn(badT, "bg-500"), conn(badT, "bg-garbage")
		if c500.Status == linkd.ConnExpired && cGarbage.Status == linkd.ConnExpired {
			if c500.RefreshFailures != connect.MaxRefreshFailures || cGarbage.RefreshFailures != connect.MaxRefreshFailures {
				t.Errorf("expired after %d and %d failures; want %d", c500.RefreshFailures, cGarbage.RefreshFailures, connect.MaxRefreshFailures)
			}
			t.Logf("bg-500 and bg-garbage expired after %d failures, %v later", connect.MaxRefreshFailures, time.Since(start).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failing refreshes did not expire the connections: bg-500 %s after %d failures, bg-garbage %s after %d",
				c500.Status, c500.RefreshFailures, cGarbage.Status, cGarbage.RefreshFailures)
		}
		time.Sleep(time.Second)
	}
	for i := range goods {
		if c := conn(goodT, fmt.Sprintf("bg-good-%d", i)); c.Status != linkd.ConnActive || c.RefreshFailures != 0 {
			t.Errorf("bg-good-%d: %s, %d failures", i, c.Status, c.RefreshFailures)
		}
	}
	n, longest = prov.ended("hang")
	t.Logf("hanging provider, long run: %d refreshes, %d ended, the longest after %v", len(prov.byMode("hang")), n, longest.Round(time.Millisecond))
	if longest > tokenTimeout+2*time.Second {
		t.Errorf("a hanging refresh lasted %v; the token client's timeout is %v", longest, tokenTimeout)
	}
}
