package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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
// token endpoint hangs, trickles its status line or its body a byte at a
// time, resets the connection, answers an endless body, answers 500,
// answers JSON that is not JSON, or refuses the grant with invalid_grant)
// and another tenant's provider healthy, on another host. Refreshes are
// made both by the background refresher and on demand (the credentials
// route, the proxy before a call and after the app's 401). What must
// hold: every refresh attempt ends within its timeout (the token client's
// 30 s; a proxied call within the proxy's timeout), and one that fails at
// once fails fast; a transient failure leaves the connection active with
// the failure counted, invalid_grant marks it expired (reauth_required);
// the healthy tenant's refreshes go on at once while the bad ones hang,
// even though the healthy tenant has tokens at the hanging provider too
// (the refresher caps the refreshes per token endpoint host); and the
// server's goroutines come back to rest and its memory stays bounded.
func TestReliabilityMisbehavingProviders(t *testing.T) {
	onEachEngine(t, testMisbehavingProviders)
}

// tokenTimeout is the token client's whole-call timeout (serve.go).
const tokenTimeout = 30 * time.Second

// badProvider serves one token endpoint per way of misbehaving:
// /{mode}/token. It records when each refresh began and ended (the
// handler sees linkd hang up). The healthy mode, /good/token, is served
// on a second listener (good), another host as linkd sees it.
type badProvider struct {
	*httptest.Server
	good    *httptest.Server
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

// trickleEvery is how long a trickling token endpoint waits between bytes.
const trickleEvery = 500 * time.Millisecond

func newBadProvider(t *testing.T) *badProvider {
	b := &badProvider{release: make(chan struct{}), calls: map[string][]*tokenCall{}}
	// trickle writes a byte of p (then of more, forever) every
	// trickleEvery until the write fails (linkd hung up) or the test
	// ends; write flushes it.
	trickle := func(write func([]byte) error, p string) {
		for i := 0; ; i++ {
			c := byte('y')
			if i < len(p) {
				c = p[i]
			}
			if write([]byte{c}) != nil {
				return
			}
			select {
			case <-b.release:
				return
			case <-time.After(trickleEvery):
			}
		}
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		case "trickle":
			// The status line and a header, a byte at a time: the
			// answer never gets as far as its headers' end.
			conn, _, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			trickle(func(p []byte) error { _, err := conn.Write(p); return err }, "HTTP/1.1 200 OK\r\nX-Slow: ")
		case "trickle-body":
			// Headers at once, then a JSON body a byte at a time that
			// never ends.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			trickle(func(p []byte) error {
				if _, err := w.Write(p); err != nil {
					return err
				}
				return http.NewResponseController(w).Flush()
			}, `{"token_type":"Bearer","access_token":"`)
		case "reset":
			// The connection is reset (RST) before any answer.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "endless":
			// A JSON body without end, as fast as linkd reads it: the
			// token client must stop reading (it keeps at most 1 MiB).
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token_type":"Bearer","access_token":"`))
			chunk := []byte(strings.Repeat("z", 32<<10))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				select {
				case <-b.release:
					return
				default:
				}
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
			// No keep-alive: idle connections in the token client's
			// pool would blur the goroutine count.
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"fresh-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"r-fresh-%d"}`, n, n)
		}
	})
	b.Server = httptest.NewServer(handler)
	b.good = httptest.NewServer(handler)
	t.Cleanup(b.stop)
	return b
}

// stop makes every misbehaving endpoint give up and closes both servers;
// it may be called more than once.
func (b *badProvider) stop() {
	b.mu.Lock()
	select {
	case <-b.release:
	default:
		close(b.release)
	}
	b.mu.Unlock()
	b.CloseClientConnections()
	b.Close()
	b.good.Close()
}

// unblock makes the misbehaving endpoints give up (a hang answers an
// empty 200, a trickle stops) and stay quick from then on, so that the
// server's retries end at once.
func (b *badProvider) unblock() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.release:
	default:
		close(b.release)
	}
}

// providerModes are the bad tenant's providers; "good" is the other
// tenant's. slowModes keep a refresh until the token client's timeout;
// the others fail at once.
var (
	providerModes = []string{"hang", "trickle", "trickle-body", "reset", "endless", "500", "garbage", "invalid"}
	slowModes     = []string{"hang", "trickle", "trickle-body"}
)

func providersCatalog(t *testing.T, prov, good, api string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, m := range append(providerModes, "good") {
		prov := prov
		if m == "good" {
			prov = good
		}
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

// byModes is the calls of any of modes.
func (b *badProvider) byModes(modes ...string) []*tokenCall {
	var out []*tokenCall
	for _, m := range modes {
		out = append(out, b.byMode(m)...)
	}
	return out
}

// endedOf counts the calls of modes that ended, and returns the longest.
func (b *badProvider) endedOf(modes ...string) (n int, longest time.Duration) {
	for _, m := range modes {
		k, l := b.ended(m)
		n, longest = n+k, max(longest, l)
	}
	return n, longest
}

func testMisbehavingProviders(t *testing.T, bin string, tenv testEnv) {
	long := os.Getenv("LINKD_TEST_LONG") != ""
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
		"LINKD_APPS": providersCatalog(t, prov.URL, prov.good.URL, api.URL), "LINKD_PROXY_TIMEOUT": appsProxyTimeout.String(),
		"LINKD_ENCRYPTION_KEY": strings.Repeat("5f", 32)}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	keys := map[string]string{}
	apikey := func(name string, args ...string) {
		t.Helper()
		key, stderr, err := runBin(t, bin, env, append([]string{"apikey", "create"}, args...)...)
		if err != nil {
			t.Fatalf("apikey create: %v\n%s", err, stderr)
		}
		keys[name] = strings.TrimSpace(key)
	}
	apikey("test", "--env", "test")
	apikey("production", "--env", "production")
	ctx := t.Context()
	f := newFlags("serve", func(k string) string { return settings[k] }, io.Discard)
	if err := f.parse(nil); err != nil {
		t.Fatal(err)
	}
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Three tenants: the bad one (the default organization's test
	// environment), the healthy one (its production environment), and a
	// crowd of one more (a second organization) whose tokens are all at
	// the hanging provider: with the bad tenant's, enough to take every
	// refresher slot, were refreshes not capped per token endpoint host.
	org, _, err := ensureOrg(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	crowdOrg := &linkd.Org{ID: linkd.NewID(), Name: "crowd", CreatedAt: time.Now().UTC()}
	if err := store.CreateOrg(ctx, crowdOrg); err != nil {
		t.Fatal(err)
	}
	apikey("crowd", "--org", "crowd", "--env", "test")
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
	setup(keys["crowd"], "PUT", "/api/v2/public/application/prov-hang/settings", `{"enabled":true,"client_id":"c-crowd","client_secret":"s-crowd"}`)
	setup(keys["production"], "PUT", "/api/v2/public/application/prov-good/settings", `{"enabled":true,"client_id":"c-good","client_secret":"s-good"}`)

	// For the background refresher, in the order the tokens fell due:
	// the bad tenant's at the providers that fail at once (so that its
	// own slow ones do not hold them back); then the slow ones, the
	// crowd's and the bad tenant's, more than the refresher runs at once
	// (the first two: the crowd's first hang and the bad tenant's
	// trickle); the healthy tenant's last.
	now := time.Now()
	fastModes := []string{"reset", "endless", "500", "garbage", "invalid"}
	for _, m := range fastModes {
		connectTo(keys["test"], "bg-"+m, m, "old", now.Add(-3*time.Hour))
	}
	connectTo(keys["crowd"], "bg-crowd-0", "hang", "old", now.Add(-2*time.Hour-3*time.Minute))
	connectTo(keys["test"], "bg-trickle", "trickle", "old", now.Add(-2*time.Hour-2*time.Minute))
	connectTo(keys["crowd"], "bg-crowd-1", "hang", "old", now.Add(-2*time.Hour-time.Minute))
	const hangs = 6
	for i := range hangs {
		connectTo(keys["test"], fmt.Sprintf("bg-hang-%d", i), "hang", "old", now.Add(-2*time.Hour))
	}
	const goods = 3
	for i := range goods {
		connectTo(keys["production"], fmt.Sprintf("bg-good-%d", i), "good", "old", now.Add(time.Minute))
	}
	// For refreshes on demand: tokens valid for an hour (the refresher
	// leaves them), which the app refuses as stale; and two that expired
	// a minute ago, which the proxy refreshes before calling (the
	// refresher, its slots for the bad host taken by the slow ones above,
	// leaves them too while the test looks).
	for _, m := range providerModes {
		connectTo(keys["test"], "od-"+m, m, "stale", now.Add(time.Hour))
	}
	for _, m := range []string{"hang", "trickle", "reset"} {
		connectTo(keys["test"], "od-"+m+"-proxy", m, "stale", now.Add(time.Hour))
	}
	for _, m := range []string{"trickle", "reset"} {
		connectTo(keys["test"], "od-"+m+"-expired", m, "old", now.Add(-time.Minute))
	}
	connectTo(keys["production"], "od-good", "good", "stale", now.Add(time.Hour))

	// At rest (nothing was due at the first process's start, and its
	// next poll is 30 s away): goroutines and memory, to compare the
	// restarted process's with.
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	restG, restRSS := goroutines(t, base), rssKiB(t, p.cmd.Process.Pid)

	// Restarted, the refresher claims what is due at once (rather than
	// at its next poll, 30 s away).
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	restart := time.Now()
	p = startLinkd(t, bin, env, base)
	pid := p.cmd.Process.Pid

	// The restarted server's goroutines and memory, sampled until the
	// end.
	var peakG, peakRSS atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sample := func() {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			return
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				peakG.Store(max(peakG.Load(), int64(n)))
			}
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
					peakRSS.Store(max(peakRSS.Load(), int64(n)))
				}
			}
		}
	}
	sampler.Go(func() {
		for sampleCtx.Err() == nil {
			sample()
			select {
			case <-sampleCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	defer func() { stopSampling(); sampler.Wait() }()

	// On demand, all at once, while the refresher works.
	type outcome struct {
		name    string
		status  int
		errType string
		took    time.Duration
	}
	var wg sync.WaitGroup
	outcomes := make(chan outcome, 32)
	credentials := func(key, account, mode string) {
		st, out, took := req(key, "GET", "/api/v2/public/linked-account/"+account+"/connection/prov-"+mode+"/credentials?force_refresh=true", "", "")
		outcomes <- outcome{"credentials " + account, st, fmt.Sprint(out["error"]), took}
	}
	for _, m := range providerModes {
		wg.Go(func() { credentials(keys["test"], "od-"+m, m) })
	}
	proxied := func(name, mode, account string) {
		st, out, took := req(keys["test"], "GET", "/api/v2/public/proxy/prov-"+mode+"/items", account, "")
		outcomes <- outcome{name + " " + account, st, fmt.Sprint(out["error"]), took}
	}
	for _, m := range []string{"hang", "trickle", "reset"} {
		// The app answers 401 to the stale token; the proxy refreshes
		// once, and the provider misbehaves.
		wg.Go(func() { proxied("proxy 401", m, "od-"+m+"-proxy") })
	}
	for _, m := range []string{"trickle", "reset"} {
		// The token has expired: the proxy refreshes before calling.
		wg.Go(func() { proxied("proxy expired", m, "od-"+m+"-expired") })
	}
	// The token has expired: the proxy refreshes before calling, and the
	// provider hangs (or the refresher holds the lease).
	wg.Go(func() { proxied("proxy expired", "hang", "bg-hang-5") })
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
	// refreshed at once, while the bad tenant's and the crowd's
	// refreshes hang.
	badT, goodT := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvProduction}
	crowdT := linkd.Tenant{OrgID: crowdOrg.ID, Env: linkd.EnvTest}
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
			n, _ := prov.endedOf(slowModes...)
			t.Fatalf("%d of %d healthy background refreshes done 15 s after the start (%d slow refreshes open, %d ended)\n%s",
				done, goods, len(prov.byModes(slowModes...))-n, n, p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	slowOpen := len(prov.byModes(slowModes...))
	if n, _ := prov.endedOf(slowModes...); slowOpen-n == 0 {
		t.Errorf("no refresh was hanging when the healthy ones were done: the test proves nothing")
	} else {
		t.Logf("healthy tenant: %d background refreshes done %v after the start, with %d refreshes hanging or trickling", goods, goodAt.Round(time.Millisecond), slowOpen-n)
	}
	t.Logf("healthy tenant: forced refreshes on demand took %v", goodOnDemand)

	// The slow refreshes begun by now (those of the refresher's first
	// claims and the ones on demand) are waited for below.
	started := len(prov.byModes(slowModes...))

	// On demand: each ends within its timeout, in a clear error; those
	// the provider keeps talking to (trickles) end at the token client's
	// timeout, not before.
	wg.Wait()
	close(outcomes)
	proxyLimit := appsProxyTimeout + 1500*time.Millisecond
	fast := 3 * time.Second
	want := map[string]struct {
		status        int
		errType       string
		after, within time.Duration
	}{
		"credentials od-hang":              {502, "REFRESH_FAILED", tokenTimeout - time.Second, tokenTimeout + 3*time.Second},
		"credentials od-trickle":           {502, "REFRESH_FAILED", tokenTimeout - time.Second, tokenTimeout + 3*time.Second},
		"credentials od-trickle-body":      {502, "REFRESH_FAILED", tokenTimeout - time.Second, tokenTimeout + 3*time.Second},
		"credentials od-reset":             {502, "REFRESH_FAILED", 0, fast},
		"credentials od-endless":           {502, "REFRESH_FAILED", 0, fast},
		"credentials od-500":               {502, "REFRESH_FAILED", 0, fast},
		"credentials od-garbage":           {502, "REFRESH_FAILED", 0, fast},
		"credentials od-invalid":           {409, "CONNECTION_EXPIRED", 0, fast},
		"proxy 401 od-hang-proxy":          {504, "UPSTREAM_TIMEOUT", appsProxyTimeout, proxyLimit},
		"proxy 401 od-trickle-proxy":       {504, "UPSTREAM_TIMEOUT", appsProxyTimeout, proxyLimit},
		"proxy 401 od-reset-proxy":         {401, "token expired", 0, fast}, // the app's own 401, passed on
		"proxy expired od-trickle-expired": {504, "UPSTREAM_TIMEOUT", appsProxyTimeout, proxyLimit},
		"proxy expired od-reset-expired":   {502, "REFRESH_FAILED", 0, fast},
		"proxy expired bg-hang-5":          {504, "UPSTREAM_TIMEOUT", appsProxyTimeout, proxyLimit},
	}
	seen := 0
	for o := range outcomes {
		w, ok := want[o.name]
		if !ok {
			t.Errorf("unexpected outcome %q", o.name)
			continue
		}
		seen++
		t.Logf("%s: %d %s after %v", o.name, o.status, o.errType, o.took.Round(time.Millisecond))
		if o.status != w.status || o.errType != w.errType || o.took < w.after || o.took > w.within {
			t.Errorf("%s: %d %s after %v; want %d %s after %v to %v", o.name, o.status, o.errType, o.took, w.status, w.errType, w.after, w.within)
		}
	}
	if seen != len(want) {
		t.Errorf("%d outcomes of %d", seen, len(want))
	}

	// Every slow refresh begun ends by the token client's timeout.
	for deadline := time.Now().Add(tokenTimeout + 10*time.Second); ; {
		if n, _ := prov.endedOf(slowModes...); n >= started {
			break
		}
		if time.Now().After(deadline) {
			n, _ := prov.endedOf(slowModes...)
			t.Fatalf("%d of %d slow refreshes still open %v after they began\n%s", started-n, started, tokenTimeout+10*time.Second, p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range slowModes {
		n, longest := prov.ended(m)
		t.Logf("%s provider: %d refreshes ended, the longest after %v", m, n, longest.Round(time.Millisecond))
		if longest > tokenTimeout+2*time.Second {
			t.Errorf("a %s refresh lasted %v; the token client's timeout is %v", m, longest, tokenTimeout)
		}
	}

	// What the connections say now. The records are written just after
	// the provider sees the end: wait for them.
	transient := []string{"bg-reset", "bg-endless", "bg-500", "bg-garbage", "bg-trickle",
		"od-reset", "od-endless", "od-500", "od-garbage", "od-hang", "od-trickle", "od-trickle-body",
		"od-hang-proxy", "od-trickle-proxy", "od-reset-proxy", "od-trickle-expired", "od-reset-expired"}
	waitFor(t, "the failed refreshes to be recorded", func() bool {
		for _, a := range transient {
			if conn(badT, a).RefreshFailures == 0 {
				return false
			}
		}
		return true
	})
	// A transient failure is counted and the connection stays active
	// (until connect.MaxRefreshFailures in a row: the refresher tries
	// again every 30 s, so a background one may have failed more than
	// once by now). On demand, each was refreshed once (those expired by
	// the proxy, and maybe once more by the refresher since).
	for _, a := range transient {
		c := conn(badT, a)
		wantFailures := c.RefreshFailures == 1
		if strings.HasPrefix(a, "bg-") || strings.HasSuffix(a, "-expired") {
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
	for i := range 2 {
		c := conn(crowdT, fmt.Sprintf("bg-crowd-%d", i))
		if c.Status != linkd.ConnActive {
			t.Errorf("bg-crowd-%d is %s after hanging refreshes; want active", i, c.Status)
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
	t.Logf("the hanging provider was called %d times for %d background connections", len(prov.byMode("hang")), hangs+2)

	// The long run: a provider that keeps failing ends the grant after
	// connect.MaxRefreshFailures attempts in a row (one each
	// connect.RefreshRetry), and the customer is asked to reconnect.
	if long {
		start := time.Now()
		failing := []string{"bg-500", "bg-garbage", "bg-reset", "bg-endless"}
		for deadline := start.Add(time.Duration(connect.MaxRefreshFailures+2) * connect.RefreshRetry); ; {
			expired := 0
			for _, a := range failing {
				if conn(badT, a).Status == linkd.ConnExpired {
					expired++
				}
			}
			if expired == len(failing) {
				for _, a := range failing {
					if c := conn(badT, a); c.RefreshFailures != connect.MaxRefreshFailures {
						t.Errorf("%s expired after %d failures; want %d", a, c.RefreshFailures, connect.MaxRefreshFailures)
					}
				}
				t.Logf("%v expired after %d failures, %v later", failing, connect.MaxRefreshFailures, time.Since(start).Round(time.Second))
				break
			}
			if time.Now().After(deadline) {
				for _, a := range failing {
					c := conn(badT, a)
					t.Errorf("%s: %s after %d failures", a, c.Status, c.RefreshFailures)
				}
				t.Fatalf("failing refreshes did not expire the connections")
			}
			time.Sleep(time.Second)
		}
		for i := range goods {
			if c := conn(goodT, fmt.Sprintf("bg-good-%d", i)); c.Status != linkd.ConnActive || c.RefreshFailures != 0 {
				t.Errorf("bg-good-%d: %s, %d failures", i, c.Status, c.RefreshFailures)
			}
		}
		for _, m := range slowModes {
			n, longest := prov.ended(m)
			t.Logf("%s provider, long run: %d refreshes, %d ended, the longest after %v", m, len(prov.byMode(m)), n, longest.Round(time.Millisecond))
			if longest > tokenTimeout+2*time.Second {
				t.Errorf("a %s refresh lasted %v; the token client's timeout is %v", m, longest, tokenTimeout)
			}
		}
	}

	// Once the providers stop misbehaving (every retry then fails at
	// once), the server's goroutines come back to rest: nothing a hang,
	// a trickle or a reset started is left behind.
	prov.unblock()
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, _ := prov.endedOf(providerModes...)
		if n == len(prov.byModes(providerModes...)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d provider calls still open after the providers gave up", len(prov.byModes(providerModes...))-n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()
	settled := 0
	for deadline := time.Now().Add(15 * time.Second); ; {
		settled = goroutines(t, base)
		if settled <= restG+3 {
			break
		}
		if time.Now().After(deadline) {
			stopSampling()
			sampler.Wait()
			t.Fatalf("goroutines stayed at %d after the providers gave up (rest %d, peak %d); where they are:\n%s", settled, restG, peakG.Load(), goroutineDump(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopSampling()
	sampler.Wait()
	afterRSS := rssKiB(t, pid)
	t.Logf("goroutines: %d at rest, %d at peak, %d after; RSS: %d MiB at rest, %d MiB at peak, %d MiB after",
		restG, peakG.Load(), settled, restRSS>>10, peakRSS.Load()>>10, afterRSS>>10)
	// Bounded: a refresh keeps at most 1 MiB of what a provider sends
	// (the endless body), and a slow one a connection and a few
	// goroutines until the token client's timeout.
	if grew := int(peakRSS.Load()) - restRSS; grew > 64<<10 {
		t.Errorf("RSS grew from %d MiB to %d MiB with the providers misbehaving", restRSS>>10, peakRSS.Load()>>10)
	}
	// A call in flight holds a handful of goroutines (seen in a dump at
	// the peak: the caller's connection and its reader, the refresh and
	// its single flight, the token client's connection reader and
	// writer, a query's watchers); 10 each for the calls on demand and
	// the refresher's is generous, and below what a goroutine per
	// trickled byte would reach. The refresher runs up to 12 at once:
	// its 4 main slots, the stalled hosts' lane of 2, and the refreshes
	// that ran past SlowAfter and left their slots, up to the cap of 2 at
	// each of the 3 misbehaving hosts (the bound counted 4 from before
	// the stalled lane, and a run at 267 goroutines went over it).
	if peak, inFlight := int(peakG.Load()), len(want)+12; peak > restG+10*inFlight {
		t.Errorf("goroutines peaked at %d (rest %d) with %d calls at most in flight", peak, restG, inFlight)
	}
}
