package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReliabilityMisbehavingReceivers runs the real binary with one tenant's
// webhook endpoints misbehaving in every way a receiver can (one hangs
// without answering, one trickles its answer a byte at a time, one resets
// the connection, one answers bytes that are not HTTP) and another tenant's
// endpoint healthy. What must hold: the healthy tenant's deliveries all
// arrive while the hanging ones are still hanging (the bad tenant holds at
// most its share of the sender), every bad attempt ends (the per-attempt
// timeout holds against the hang and the trickle), and the server's
// goroutines stay bounded and come back to where they started.
func TestReliabilityMisbehavingReceivers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for name, tenv := range engines(t) {
		if name != "sqlite" && os.Getenv("LINKD_TEST_LONG") == "" {
			continue // the sender is the same code on both; the long run covers PostgreSQL
		}
		t.Run(name, func(t *testing.T) { testMisbehavingReceivers(t, bin, tenv) })
	}
}

// badReceiver is a webhook receiver that misbehaves by path.
type badReceiver struct {
	*httptest.Server
	release          chan struct{}
	started, stopped sync.Map // path -> *atomic.Int64
}

func (b *badReceiver) count(m *sync.Map, path string) *atomic.Int64 {
	v, _ := m.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func newBadReceiver(t *testing.T) *badReceiver {
	b := &badReceiver{release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.count(&b.started, r.URL.Path).Add(1)
		defer b.count(&b.stopped, r.URL.Path).Add(1)
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-b.release:
			}
		case "/trickle":
			w.WriteHeader(200)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-b.release:
					return
				case <-tick.C:
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
		}
	}))
	t.Cleanup(func() { close(b.release); b.Close() })
	return b
}

// accountInPayload finds the account a webhook payload is about (the
// payload's JSON is spaced differently on each engine).
var accountInPayload = regexp.MustCompile(`"linked_account_id":\s*"([^"]+)"`)

// goroutineDump stops the server with SIGQUIT, which makes the Go runtime
// print every goroutine's stack, and returns the stacks grouped by where
// they were created, with counts.
func goroutineDump(p *proc) string {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	p.cmd.Wait()
	counts := map[string]int{}
	for _, g := range strings.Split(p.logs.String(), "\n\ngoroutine ")[1:] {
		lines := strings.Split(strings.TrimSpace(g), "\n")
		key := lines[0][strings.IndexByte(lines[0], ' ')+1:]
		if len(lines) > 1 {
			key += " " + strings.TrimSpace(lines[1])
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "created by ") {
				key += " <- " + l
			}
		}
		counts[key]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%3d %s", n, k))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(t *testing.T, base string) int {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

func testMisbehavingReceivers(t *testing.T, bin string, tenv testEnv) {
	bad := newBadReceiver(t)
	var goodMu sync.Mutex
	good := map[string]time.Time{} // account -> when its delivery arrived
	goodRecv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No keep-alive: idle connections in the sender's pool (two
		// goroutines each, up to one per sender slot) would make the
		// goroutine count wander by tens without anything leaking.
		w.Header().Set("Connection", "close")
		b, _ := io.ReadAll(r.Body)
		if m := accountInPayload.FindSubmatch(b); m != nil {
			goodMu.Lock()
			good[string(m[1])] = time.Now()
			goodMu.Unlock()
		}
	}))
	t.Cleanup(goodRecv.Close)

	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
		"LINKD_WEBHOOK_RETRY_SCHEDULE": "0s", "LINKD_ENCRYPTION_KEY": strings.Repeat("3d", 32)}
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
	post := func(key, path, body string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	hook := func(key, url string) string {
		return post(key, "/api/v2/public/webhook", `{"webhook_url":"`+url+`","webhook_events":["Linked Account Created"]}`)
	}
	modes := []string{"/hang", "/trickle", "/reset", "/garbage"}
	for _, m := range modes {
		hook(keys["test"], bad.URL+m)
	}
	goodHook := hook(keys["production"], goodRecv.URL+"/hook")
	baseline := goroutines(t, base)

	// One round, or two in the long run (LINKD_TEST_LONG): the second
	// shows that nothing grows with the work done.
	const badAccounts, goodAccounts = 2, 40
	rounds := 1
	if os.Getenv("LINKD_TEST_LONG") != "" {
		rounds = 2
	}
	peak, settled := baseline, 0
	for round := 1; round <= rounds; round++ {
		// The bad tenant's events first, so its hangs are in progress
		// before the healthy tenant's deliveries are due.
		hangs := bad.count(&bad.started, "/hang").Load()
		for i := range badAccounts {
			post(keys["test"], "/api/v2/public/linked-account", fmt.Sprintf(`{"linked_account_id":"bad-%d-%d"}`, round, i))
		}
		waitFor(t, "the hanging endpoint to be called", func() bool { return bad.count(&bad.started, "/hang").Load() > hangs })
		for i := range goodAccounts {
			post(keys["production"], "/api/v2/public/linked-account", fmt.Sprintf(`{"linked_account_id":"good-%d-%d"}`, round, i))
		}
		for deadline := time.Now().Add(60 * time.Second); ; {
			peak = max(peak, goroutines(t, base))
			goodMu.Lock()
			n := len(good)
			goodMu.Unlock()
			if n == round*goodAccounts {
				break
			}
			if time.Now().After(deadline) {
				var h map[string]any
				json.Unmarshal([]byte(goodHook), &h)
				dl := getJSON(t, fmt.Sprintf("%s/api/v2/public/webhook/%v/deliveries", base, h["_id"]), keys["production"])
				t.Fatalf("%d of %d healthy deliveries after 60 s (hook %s)\n%v\n%s", n, round*goodAccounts, goodHook, dl, p.logText())
			}
			time.Sleep(20 * time.Millisecond)
		}
		hangsOpen := bad.count(&bad.started, "/hang").Load() - bad.count(&bad.stopped, "/hang").Load()
		t.Logf("round %d: all %d healthy deliveries arrived with %d hanging attempts still open", round, goodAccounts, hangsOpen)
		if hangsOpen == 0 {
			t.Errorf("no hanging attempt was open when the healthy tenant's deliveries were done: the test proves nothing")
		}

		// Every bad attempt ends, by the sender's timeout where the
		// receiver would go on.
		for deadline := time.Now().Add(60 * time.Second); ; {
			peak = max(peak, goroutines(t, base))
			done := true
			for _, m := range modes {
				s, e := bad.count(&bad.started, m).Load(), bad.count(&bad.stopped, m).Load()
				done = done && s >= int64(round*badAccounts) && e == s
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bad attempts still open after 60 s\n%s", p.logText())
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Goroutines come back down to where they started, after each
		// round: nothing an attempt started outlives it.
		limit := baseline + 3
		for deadline := time.Now().Add(30 * time.Second); ; {
			n := goroutines(t, base)
			if n <= limit {
				settled = n
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: goroutines stayed at %d after every attempt ended (limit %d, baseline %d); where they are:\n%s",
					round, n, limit, baseline, goroutineDump(p))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("round %d: goroutines settled at %d", round, settled)
	}
	if peak > baseline+200 {
		t.Errorf("goroutines peaked at %d (baseline %d)", peak, baseline)
	}
	for _, m := range modes {
		t.Logf("%s: %d attempts, all ended", m, bad.count(&bad.started, m).Load())
	}
	t.Logf("goroutines: %d at rest, %d at peak, %d after %d rounds", baseline, peak, settled, rounds)
}
