package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReliabilityMisbehavingApps runs the real binary with one tenant's app
// misbehaving behind the proxy in every way an HTTP server can (it hangs,
// trickles its status line, resets the connection, answers bytes that are
// not HTTP, sends endless headers, an endless body, or a huge body slowly)
// and another tenant's app healthy. What must hold: every call to the bad
// app ends within the proxy's timeout with linkd's own 5xx error body; the
// request body limit holds; the healthy tenant's calls keep succeeding at
// their usual latency while the bad ones pile up; and afterwards the
// server's goroutines come back to where they started and its memory stays
// bounded (bodies stream, they are never held whole).
func TestReliabilityMisbehavingApps(t *testing.T) {
	onEachEngine(t, testMisbehavingApps)
}

// The proxy settings of the test: short, so a hang costs seconds.
const (
	appsProxyTimeout = 2 * time.Second
	appsProxyMaxBody = 1 << 20
)

// badApp is an app's API that misbehaves by path; it counts the requests
// it started and those that ended (the connection closed, or the handler
// gave up), by path.
type badApp struct {
	*httptest.Server
	release          chan struct{}
	started, stopped sync.Map // path -> *atomic.Int64
	sunk             atomic.Int64
}

func (b *badApp) count(m *sync.Map, path string) *atomic.Int64 {
	v, _ := m.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// open is how many requests to path have not ended.
func (b *badApp) open(path string) int64 {
	return b.count(&b.started, path).Load() - b.count(&b.stopped, path).Load()
}

// slowHugeSize is the body /api/slow-huge answers with, after a wait.
const slowHugeSize = 256 << 20

func newBadApp(t *testing.T) *badApp {
	b := &badApp{release: make(chan struct{})}
	// wait sleeps d unless released; false when released.
	wait := func(d time.Duration) bool {
		select {
		case <-b.release:
			return false
		case <-time.After(d):
			return true
		}
	}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/api")
		b.count(&b.started, path).Add(1)
		defer b.count(&b.stopped, path).Add(1)
		if path != "/sink" {
			io.Copy(io.Discard, r.Body)
		}
		switch path {
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-b.release:
			}
		case "/trickle-head":
			// The status line and a header, a byte a second: the
			// answer never gets as far as its headers' end.
			conn, _, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			for _, c := range []byte("HTTP/1.1 200 OK\r\nX-Slow: " + strings.Repeat("y", 1000)) {
				if _, err := conn.Write([]byte{c}); err != nil || !wait(time.Second) {
					return
				}
			}
		case "/trickle-body":
			w.WriteHeader(200)
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-b.release:
					return
				case <-time.After(time.Second):
				}
			}
		case "/reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "/garbage":
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("\x00\x01\x02 this is not HTTP\r\n\r\n\xff\xfe")
			buf.Flush()
			conn.Close()
		case "/huge-headers":
			// Headers without end, as fast as the proxy reads them.
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\n")
			line := strings.Repeat("h", 1000)
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(buf, "X-Pad-%d: %s\r\n", i, line); err != nil {
					return
				}
				select {
				case <-b.release:
					return
				default:
				}
			}
		case "/endless":
			w.Header().Set("Content-Type", "application/octet-stream")
			chunk := make([]byte, 32<<10)
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
		case "/slow-huge":
			if !wait(appsProxyTimeout / 2) {
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(slowHugeSize))
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < slowHugeSize; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/sink":
			n, _ := io.Copy(io.Discard, r.Body)
			b.sunk.Add(n)
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	// Where a test reads the bad app's counters after a call, the app's
	// handler may not have seen its connection close yet: counts are
	// waited for, never read once.
	b.Start()
	t.Cleanup(func() { close(b.release); b.CloseClientConnections(); b.Close() })
	return b
}

// appsCatalog writes an operator's app file with two key-based apps on
// loopback, badapp and goodapp, and returns its path.
func appsCatalog(t *testing.T, bad, good string) string {
	t.Helper()
	app := func(slug, url string) string {
		return `  - slug: ` + slug + `
    name: ` + slug + `
    auth_type: keybased
    enabled_by_default: true
    auth_inputs: [{name: key, label: Key, type: password, required: true}]
    proxy:
      base_url: ` + url + `/api
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "{{fields.key}}"}
`
	}
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte("apps:\n"+app("badapp", bad)+app("goodapp", good)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// percentile is the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// proxyResult is one call through the proxy as the caller saw it.
type proxyResult struct {
	status  int
	errType string // linkd's error type, when linkd answered the error
	ownErr  bool   // linkd-proxy-error: true
	took    time.Duration
	body    []byte
	err     error
}

func testMisbehavingApps(t *testing.T, bin string, tenv testEnv) {
	long := os.Getenv("LINKD_TEST_LONG") != ""
	bad := newBadApp(t)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No keep-alive: idle connections in the proxy's pool (two
		// goroutines each) would blur the goroutine count.
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"items":[1,2,3]}`))
	}))
	t.Cleanup(good.Close)

	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
		"LINKD_APPS": appsCatalog(t, bad.URL, good.URL), "LINKD_PROXY_TIMEOUT": appsProxyTimeout.String(),
		"LINKD_PROXY_MAX_BODY": strconv.Itoa(appsProxyMaxBody), "LINKD_ENCRYPTION_KEY": strings.Repeat("4e", 32)}
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
	pid := p.cmd.Process.Pid

	// The callers: the healthy tenant's keeps its connections (as a real
	// backend would), the storm's opens one per call.
	healthyClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	stormClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(c *http.Client, key, method, path string, body io.Reader, size int64) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, body)
		req.ContentLength = size
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("linked_account_id", "cust")
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return res
	}
	setup := func(key, method, path, body string) {
		t.Helper()
		res := do(healthyClient, key, method, path, strings.NewReader(body), int64(len(body)))
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
	}
	// The bad tenant (test environment) calls badapp; the healthy one
	// (production) goodapp, enabled for it first.
	setup(keys["test"], "POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust"}`)
	setup(keys["test"], "PUT", "/api/v2/public/linked-account/integration/save-key-credentials/badapp", `{"key":"k-bad"}`)
	setup(keys["production"], "PUT", "/api/v2/public/application/goodapp/settings", `{"enabled":true}`)
	setup(keys["production"], "POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust"}`)
	setup(keys["production"], "PUT", "/api/v2/public/linked-account/integration/save-key-credentials/goodapp", `{"key":"k-good"}`)

	// call makes one proxied call and reads the whole answer (at most
	// limit bytes of it: the caller hangs up after).
	call := func(c *http.Client, key, method, path string, body io.Reader, size, limit int64) proxyResult {
		start := time.Now()
		req, _ := http.NewRequest(method, base+"/api/v2/public/proxy/"+path, body)
		req.ContentLength = size
		req.Header.Set("x-api-key", key)
		req.Header.Set("linked_account_id", "cust")
		if size > 0 {
			req.Header.Set("Expect", "100-continue") // only waited for by a client with ExpectContinueTimeout
		}
		res, err := c.Do(req)
		if err != nil {
			return proxyResult{err: err, took: time.Since(start)}
		}
		defer res.Body.Close()
		b, err := io.ReadAll(io.LimitReader(res.Body, limit))
		r := proxyResult{status: res.StatusCode, ownErr: res.Header.Get("linkd-proxy-error") == "true", took: time.Since(start), body: b, err: err}
		if r.ownErr {
			var eb struct {
				Error string `json:"error"`
			}
			json.Unmarshal(b, &eb)
			r.errType = eb.Error
		}
		return r
	}
	healthy := func() (time.Duration, error) {
		r := call(healthyClient, keys["production"], "GET", "goodapp/items", nil, 0, 1<<20)
		if r.err != nil || r.status != 200 || string(r.body) != `{"items":[1,2,3]}` {
			return r.took, fmt.Errorf("healthy call: %d %s %v", r.status, r.body, r.err)
		}
		return r.took, nil
	}

	// At rest: the healthy tenant's latency, goroutines, memory.
	var before []time.Duration
	for range 200 {
		d, err := healthy()
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, d)
	}
	healthyClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	restG, restRSS := goroutines(t, base), rssKiB(t, pid)

	// Each misbehaviour once, alone: how the call ends.
	limit := appsProxyTimeout + 1500*time.Millisecond
	for _, c := range []struct {
		path    string
		status  int
		errType string
		orSlow  bool // 504 is right too: the attempts may outlast the timeout on a loaded machine
	}{
		{"/hang", 504, "UPSTREAM_TIMEOUT", false},
		{"/trickle-head", 504, "UPSTREAM_TIMEOUT", false},
		{"/reset", 502, "UPSTREAM_UNREACHABLE", true},
		{"/garbage", 502, "UPSTREAM_UNREACHABLE", true},
		{"/huge-headers", 502, "UPSTREAM_UNREACHABLE", true},
	} {
		r := call(stormClient, keys["test"], "GET", "badapp"+c.path, nil, 0, 1<<20)
		t.Logf("%s: %d %s after %v (attempts seen by the app: %d)", c.path, r.status, r.errType, r.took.Round(time.Millisecond),
			bad.count(&bad.started, c.path).Load())
		if c.orSlow && r.status == 504 && r.errType == "UPSTREAM_TIMEOUT" {
			c.status, c.errType = 504, "UPSTREAM_TIMEOUT"
		}
		if r.err != nil || r.status != c.status || !r.ownErr || r.errType != c.errType {
			t.Errorf("%s: %d %q (linkd's own: %v) %s %v; want %d %s", c.path, r.status, r.errType, r.ownErr, r.body, r.err, c.status, c.errType)
		}
		if r.took > limit {
			t.Errorf("%s: the call took %v, more than the proxy timeout (%v) allows", c.path, r.took, appsProxyTimeout)
		}
		// The proxy hung up on the app too.
		deadline := time.Now().Add(5 * time.Second)
		for bad.open(c.path) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := bad.open(c.path); n > 0 {
			t.Errorf("%s: %d requests still open at the app after the call ended", c.path, n)
		}
	}

	// Endless headers are cut at outbound.MaxHeaderBytes (1 MiB) per
	// attempt; Go's default, 10 MiB, grew RSS by 37 MiB in one call.
	if rss := rssKiB(t, pid); rss-restRSS > 24<<10 {
		t.Errorf("RSS grew from %d MiB to %d MiB with one call of each misbehaviour", restRSS>>10, rss>>10)
	} else {
		t.Logf("after one call of each: RSS %d MiB (at rest %d MiB)", rss>>10, restRSS>>10)
	}

	// A body trickling after the headers streams for as long as the app
	// sends (a download is not bounded by the timeout), and ends when the
	// caller hangs up.
	r := call(stormClient, keys["test"], "GET", "badapp/trickle-body", nil, 0, 2)
	if r.status != 200 || string(r.body) != "xx" {
		t.Errorf("/trickle-body: %d %q %v", r.status, r.body, r.err)
	}
	waitFor(t, "the trickling request to end after the caller left", func() bool { return bad.open("/trickle-body") == 0 })
	// An endless body: the caller takes 8 MiB and hangs up.
	r = call(stormClient, keys["test"], "GET", "badapp/endless", nil, 0, 8<<20)
	if r.status != 200 || len(r.body) != 8<<20 {
		t.Errorf("/endless: %d, %d bytes, %v", r.status, len(r.body), r.err)
	}
	waitFor(t, "the endless answer to end after the caller left", func() bool { return bad.open("/endless") == 0 })

	// The request body limit: declared or streamed, a body over it is
	// refused with 413 and no more than the limit reaches the app.
	big := strings.Repeat("b", appsProxyMaxBody+1)
	// A declared size is refused before the body is read; a client that
	// sends the body anyway may see the connection close under it, so
	// this one asks first (Expect: 100-continue), as careful clients do.
	expectClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * time.Second}}
	r = call(expectClient, keys["test"], "POST", "badapp/sink", strings.NewReader(big), int64(len(big)), 1<<20)
	if r.status != 413 || !r.ownErr {
		t.Errorf("a declared body over the limit: %d %s", r.status, r.body)
	}
	// No Content-Length: chunked, so the proxy learns the size by reading.
	r = call(stormClient, keys["test"], "POST", "badapp/sink", io.MultiReader(strings.NewReader(big)), -1, 1<<20)
	if r.status != 413 || !r.ownErr {
		t.Errorf("a streamed body over the limit: %d %s", r.status, r.body)
	}
	if n := bad.sunk.Load(); n > appsProxyMaxBody {
		t.Errorf("the app received %d bytes of bodies over the %d limit", n, appsProxyMaxBody)
	}
	t.Logf("bodies over the limit: 413, %d bytes reached the app", bad.sunk.Load())

	// stormPhase calls each mode over and over as the bad tenant, with
	// its number of workers, while the healthy tenant calls its app one
	// call after another; it returns the healthy latencies, sorted.
	peakG, peakRSS := restG, restRSS
	type mode struct {
		path    string
		workers int
		limit   int64 // bytes of the answer read before hanging up
		bounded bool  // must end within the proxy's timeout, as a 5xx
	}
	stormCalls := map[string]int{}
	var slowest time.Duration
	stormPhase := func(name string, d time.Duration, modes []mode, during func()) []time.Duration {
		stop := make(chan struct{})
		var storm sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		for _, m := range modes {
			for range m.workers {
				storm.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						r := call(stormClient, keys["test"], "GET", "badapp"+m.path, nil, 0, m.limit)
						mu.Lock()
						stormCalls[m.path]++
						if m.bounded {
							slowest = max(slowest, r.took)
							if r.took > limit || r.status < 500 {
								errs = append(errs, fmt.Sprintf("%s: %d after %v %v", m.path, r.status, r.took, r.err))
							}
						}
						mu.Unlock()
					}
				})
			}
		}
		var lat []time.Duration
		var healthyErrs []error
		for end := time.Now().Add(d); time.Now().Before(end); {
			took, err := healthy()
			if err != nil {
				healthyErrs = append(healthyErrs, err)
			}
			lat = append(lat, took)
			if len(lat)%20 == 0 {
				peakG, peakRSS = max(peakG, goroutines(t, base)), max(peakRSS, rssKiB(t, pid))
			}
		}
		if during != nil {
			during()
		}
		close(stop)
		storm.Wait()
		peakRSS = max(peakRSS, rssKiB(t, pid))
		if len(healthyErrs) > 0 {
			t.Errorf("%s: %d of %d healthy calls failed, first: %v", name, len(healthyErrs), len(lat), healthyErrs[0])
		}
		for _, e := range errs[:min(len(errs), 10)] {
			t.Errorf("%s: storm call: %s", name, e)
		}
		slices.Sort(lat)
		return lat
	}

	// The storm: connections that hang, trickle, reset or answer
	// garbage cost linkd little but time; the healthy tenant must not
	// notice them.
	stormFor := 6 * time.Second
	if long {
		stormFor = 30 * time.Second
	}
	var openHangs int64
	during := stormPhase("storm", stormFor, []mode{
		{"/hang", 8, 1 << 20, true}, {"/trickle-head", 4, 1 << 20, true}, {"/reset", 2, 1 << 20, true},
		{"/garbage", 2, 1 << 20, true}, {"/trickle-body", 2, 1, false},
	}, func() { openHangs = bad.open("/hang") })
	slices.Sort(before)
	p50b, p99b := percentile(before, 50), percentile(before, 99)
	p50d, p99d := percentile(during, 50), percentile(during, 99)
	t.Logf("healthy tenant: before p50 %v p99 %v (%d calls); during the storm p50 %v p99 %v (%d calls, %d calls open on /hang at the end)",
		p50b.Round(10*time.Microsecond), p99b.Round(10*time.Microsecond), len(before), p50d.Round(10*time.Microsecond), p99d.Round(10*time.Microsecond), len(during), openHangs)
	t.Logf("after the storm: goroutines peaked at %d, RSS at %d MiB", peakG, peakRSS>>10)
	if openHangs == 0 {
		t.Errorf("no hanging call was open at the end of the storm: the test proves nothing")
	}
	// Normal latency: loopback calls take milliseconds; on a loaded
	// 2-core machine the storm's own work may slow them, not by much.
	if p50d > max(5*p50b, 20*time.Millisecond) || p99d > max(5*p99b, 250*time.Millisecond) {
		t.Errorf("the healthy tenant slowed down during the storm: p50 %v → %v, p99 %v → %v", p50b, p50d, p99b, p99d)
	}

	// The flood: answers that cost bandwidth and memory (endless
	// headers, endless bodies, a 256 MiB answer slow to start). They
	// stream through: linkd's memory does not grow with them. The
	// healthy tenant's calls share the CPU with the flood (the test's
	// own client reads it all), so they are only required to succeed.
	var hugeRead atomic.Int64
	hugeDone := make(chan proxyResult, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest("GET", base+"/api/v2/public/proxy/badapp/slow-huge", nil)
		req.Header.Set("x-api-key", keys["test"])
		req.Header.Set("linked_account_id", "cust")
		res, err := stormClient.Do(req)
		if err != nil {
			hugeDone <- proxyResult{err: err}
			return
		}
		defer res.Body.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := res.Body.Read(buf)
			hugeRead.Add(int64(n))
			if err != nil {
				break
			}
		}
		hugeDone <- proxyResult{status: res.StatusCode, took: time.Since(start)}
	}()
	flood := stormPhase("flood", stormFor, []mode{
		{"/huge-headers", 2, 1 << 20, true}, {"/endless", 2, 4 << 20, false}, {"/hang", 4, 1 << 20, true},
	}, nil)
	hr := <-hugeDone
	peakRSS = max(peakRSS, rssKiB(t, pid))
	if hr.err != nil || hr.status != 200 || hugeRead.Load() != slowHugeSize {
		t.Errorf("/slow-huge: %d, %d of %d bytes, %v", hr.status, hugeRead.Load(), slowHugeSize, hr.err)
	}
	t.Logf("/slow-huge: %d MiB streamed in %v", hugeRead.Load()>>20, hr.took.Round(time.Millisecond))
	t.Logf("healthy tenant during the flood: p50 %v p99 %v (%d calls)", percentile(flood, 50).Round(10*time.Microsecond),
		percentile(flood, 99).Round(10*time.Microsecond), len(flood))
	t.Logf("bad calls by mode: %v; slowest bounded call %v", stormCalls, slowest.Round(time.Millisecond))
	modes := []string{"/hang", "/trickle-head", "/reset", "/garbage", "/trickle-body", "/huge-headers", "/endless", "/slow-huge"}

	// Everything the storm started ends, and the server comes back to
	// where it was.
	healthyClient.CloseIdleConnections()
	for _, m := range modes {
		deadline := time.Now().Add(10 * time.Second)
		for bad.open(m) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := bad.open(m); n > 0 {
			t.Errorf("%s: %d requests still open at the app after the storm", m, n)
		}
	}
	settled := 0
	for deadline := time.Now().Add(15 * time.Second); ; {
		settled = goroutines(t, base)
		if settled <= restG+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines stayed at %d after the storm (rest %d, peak %d); where they are:\n%s", settled, restG, peakG, goroutineDump(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
	afterRSS := rssKiB(t, pid)
	t.Logf("goroutines: %d at rest, %d at peak, %d after; RSS: %d MiB at rest, %d MiB at peak, %d MiB after",
		restG, peakG, settled, restRSS>>10, peakRSS>>10, afterRSS>>10)
	// Bounded: nothing held whole (the 256 MiB answer, 8 MiB reads, 10 MiB
	// of headers per attempt at most).
	if peakRSS-restRSS > 192<<10 {
		t.Errorf("RSS grew from %d MiB to %d MiB during the storm", restRSS>>10, peakRSS>>10)
	}
}
