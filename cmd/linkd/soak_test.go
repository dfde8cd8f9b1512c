package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReliabilitySoak runs mixed API traffic and imports at 80 % of the
// throughput measured just before (on a tenant of soakSeed accounts), on
// the real binary, and checks that
// nothing degrades: no 5xx, the last window's p99 within 2× the first's,
// anonymous memory and goroutines flat, and the account count equal to what
// the traffic left. The short run (CI) lasts 30 s in 5 s windows and
// reports its timing without asserting it; with LINKD_TEST_LONG=1 it lasts
// 10 minutes in 1-minute windows, as issue 16 asks, and asserts it too
// (LINKD_TEST_SOAK=<duration> sets another length).
func TestReliabilitySoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak under load")
	}
	total, window := 30*time.Second, 5*time.Second
	if testLong() {
		total, window = 10*time.Minute, time.Minute
	}
	if v := os.Getenv("LINKD_TEST_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			t.Fatalf("LINKD_TEST_SOAK=%q: want a duration of at least 10s", v)
		}
		total, window = d, max(d/10, 5*time.Second)
	}
	bin := buildBinary(t)
	for name, tenv := range engines(t) {
		t.Run(name, func(t *testing.T) {
			var dbLog func() string
			if name == "postgres" && total >= time.Minute {
				tenv, dbLog = soakPostgres(t, tenv)
			}
			testSoak(t, bin, tenv, total, window, dbLog)
		})
	}
}

// soakPostgres gives a soak longer than CI's a PostgreSQL cluster of its own where one
// can be started: a shared server's settings are not the test's to choose,
// and the soak of a production-like server needs autovacuum on (without it
// dead row versions pile up and every query slows, as docs/RELIABILITY.md
// measured). Elsewhere the soak runs on the shared server, as it is set.
// The function returned reads the private cluster's log (nil on the shared
// server).
func soakPostgres(t *testing.T, tenv testEnv) (testEnv, func() string) {
	if why := noPrivatePostgres(); why != "" {
		t.Logf("soaking on the shared PostgreSQL server, as it is set (a private cluster: %s)", why)
		return tenv, nil
	}
	pg := startPrivatePostgres(t)
	tenv["LINKD_DATABASE_URL"] = pg.url()
	db, err := sql.Open("pgx", pg.url())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var av string
	if err := db.QueryRow(`SHOW autovacuum`).Scan(&av); err != nil || av != "on" {
		t.Fatalf("the private cluster's autovacuum is %q (%v), want on", av, err)
	}
	t.Logf("soaking on a private PostgreSQL cluster (autovacuum on, fsync off) at %s", pg.url())
	return tenv, func() string {
		b, _ := os.ReadFile(pg.logPath())
		return string(b)
	}
}

// soakWorkers is how many requests the soak keeps in flight at most; a
// request due while all are busy counts as late (and is not sent). It was
// 32, which hid an overload: a quiet 10-minute SQLite run at 2,409 req/s
// (80 % of its maximum) counted 3.3 % late, spread evenly over the
// windows, with its p99 flat, because the pool held the backlog to 32 and
// shed the rest. With 256 the same run kept up to 550 requests in flight
// and its p99 grew 3.9× (docs/RELIABILITY.md): a backlog now shows in the
// latency, as it would for clients that do not wait for each other, and a
// request is late only when some 100 ms of requests are stuck at once.
const soakWorkers = 256

// soakSeed is how many accounts the soak imports before it starts. A
// long soak starts from a tenant of 50,000, a production-like size: from
// 500, the maximum was measured on a nearly empty database that the soak
// then grew 400-fold (to 200,000 accounts in 10 minutes on SQLite), so
// 80 % of it was more than the grown database sustains. The short run
// keeps 500 (CI's time).
func soakSeed(total time.Duration) int {
	if total >= time.Minute {
		return 50_000
	}
	return 500
}

// soakClient is the traffic of a soak: the accounts it made, and what it
// expects the count to be.
type soakClient struct {
	base, key string
	http      *http.Client
	mu        sync.Mutex
	ids       []string // accounts that exist, the seeded ones first
	seeded    int
	next      atomic.Int64
	imported  atomic.Int64 // rows of imports uploaded
	jobs      []string
}

// one sends one request of the mix and returns its kind and status.
func (c *soakClient) one(rng *rand.Rand) (string, int, error) {
	c.mu.Lock()
	id := c.ids[rng.IntN(len(c.ids))]
	c.mu.Unlock()
	const la = "/api/v2/public/linked-account"
	var kind, method, path string
	var body []byte
	switch p := rng.IntN(100); {
	case p < 40:
		kind, method, path = "get", "GET", la+"/"+id
	case p < 60:
		kind, method, path = "list", "GET", la+"?limit=50&include_total=false"
	case p < 70:
		i := rng.IntN(len(id) - 4)
		kind, method, path = "search", "GET", la+"?limit=50&include_total=false&q="+url.QueryEscape(id[i:i+4])
	case p < 85:
		id = fmt.Sprintf("soak-new-%d", c.next.Add(1))
		kind, method, path = "create", "POST", la
		body, _ = json.Marshal(map[string]any{"linked_account_id": id, "name": "Soak " + id, "udf": map[string]any{"plan": "pro"}})
	case p < 95:
		// Seeded accounts only: an upsert of one a DELETE is removing
		// would make it again, and the count check would not know.
		c.mu.Lock()
		id = c.ids[rng.IntN(c.seeded)]
		c.mu.Unlock()
		kind, method, path = "upsert", "PUT", la
		body, _ = json.Marshal(map[string]any{"linked_account_id": id, "name": fmt.Sprintf("Renamed %d", rng.IntN(1000))})
	default:
		// Delete one of the accounts this run made, never a seeded one
		// that a concurrent GET may want (a 404 is fine, but keep the mix).
		c.mu.Lock()
		if len(c.ids) < 100 || !strings.HasPrefix(c.ids[len(c.ids)-1], "soak-new-") {
			c.mu.Unlock()
			kind, method, path = "get", "GET", la+"/"+id
			break
		}
		id = c.ids[len(c.ids)-1]
		c.ids = c.ids[:len(c.ids)-1]
		c.mu.Unlock()
		kind, method, path = "delete", "DELETE", la+"/"+id
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	req.Header.Set("x-api-key", c.key)
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return kind, 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if method == "POST" && res.StatusCode == http.StatusOK {
		c.mu.Lock()
		c.ids = append(c.ids, id)
		c.mu.Unlock()
	}
	return kind, res.StatusCode, nil
}

// upload queues an import of rows new accounts and returns its job id.
func (c *soakClient) upload(t *testing.T, prefix string, rows int) {
	t.Helper()
	var file bytes.Buffer
	file.WriteString("linked_account_id,name,udf.plan\n")
	for i := range rows {
		fmt.Fprintf(&file, "%s-%05d,Imported %d,free\n", prefix, i, i)
	}
	req, _ := http.NewRequest("POST", c.base+"/api/v2/public/linked-account/import?filename="+prefix+".csv", &file)
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("Content-Type", "text/csv")
	res, err := c.http.Do(req)
	if err != nil {
		t.Errorf("upload %s: %v", prefix, err)
		return
	}
	var job map[string]any
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("upload %s: %d %v", prefix, res.StatusCode, job)
		return
	}
	c.imported.Add(int64(rows))
	c.mu.Lock()
	c.jobs = append(c.jobs, job["_id"].(string))
	c.mu.Unlock()
}

// soakWindow is what one window of the soak saw.
type soakWindow struct {
	lat        []time.Duration
	byKind     map[string][]time.Duration // by kind of request, from when it was sent
	fivexx     int
	errs       int
	late       int // requests that could not start on time: all workers busy
	anon       int64
	goroutines int
}

func (w *soakWindow) p99() time.Duration { return p99(w.lat) }

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// kinds is the p99 and the maximum of each kind of request from when it
// was sent (not when it was due, so that a backlog does not hide which
// request is slow; the maximum tells a stall of a few seconds, which a p99
// over a minute's requests hides, from a general slowing).
func (w *soakWindow) kinds() string {
	var b strings.Builder
	for _, k := range []string{"get", "list", "search", "create", "upsert", "delete"} {
		var most time.Duration
		if len(w.byKind[k]) > 0 {
			most = slices.Max(w.byKind[k])
		}
		fmt.Fprintf(&b, " %s %v (max %v)", k, p99(w.byKind[k]).Round(100*time.Microsecond), most.Round(time.Millisecond))
	}
	return b.String()
}

// testSoak soaks the binary on tenv; dbLog, when not nil, reads the
// database server's log, whose slow statements it reports.
func testSoak(t *testing.T, bin string, tenv testEnv, total, window time.Duration, dbLog func() string) {
	addr := freeAddr(t)
	base := "http://" + addr
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn")
	for k, v := range tenv {
		env = append(env, k+"="+v)
	}
	key := newKey(t, tenv, "test")
	p := startLinkd(t, bin, env, base)
	c := &soakClient{base: base, key: key,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for i := range soakSeed(total) {
		c.ids = append(c.ids, fmt.Sprintf("soak-seed-%04d-%x", i, rand.Uint32()))
	}
	var seed bytes.Buffer
	seed.WriteString("linked_account_id,name\n")
	for _, id := range c.ids {
		fmt.Fprintf(&seed, "%s,Seed %s\n", id, id)
	}
	c.waitImports(t, c.uploadRaw(t, seed.Bytes()))
	c.seeded = len(c.ids)

	c.http.CloseIdleConnections()
	restBefore := goroutines(t, base)

	// The maximum: 8 clients as fast as they go, briefly.
	var done atomic.Int64
	stopMax := time.Now().Add(min(total/6, 20*time.Second))
	var wg sync.WaitGroup
	for k := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 1))
			for time.Now().Before(stopMax) {
				if _, _, err := c.one(rng); err == nil {
					done.Add(1)
				}
			}
		}()
	}
	t0 := time.Now()
	wg.Wait()
	maxRate := float64(done.Load()) / time.Since(t0).Seconds()
	rate := 0.8 * maxRate
	t.Logf("maximum %.0f req/s with 8 clients; soaking at %.0f req/s for %v in windows of %v", maxRate, rate, total, window)

	// The soak: requests paced at rate, handed to a pool of soakWorkers;
	// the latency counts from when a request was due, so a stall shows.
	windows := make([]*soakWindow, int(total/window))
	for i := range windows {
		windows[i] = &soakWindow{byKind: map[string][]time.Duration{}}
	}
	var wmu sync.Mutex
	logged := len(p.logText())
	start := time.Now()
	due := make(chan time.Time, 256)
	for k := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 2))
			for at := range due {
				sent := time.Now()
				kind, status, err := c.one(rng)
				served := time.Since(sent)
				took := time.Since(at)
				w := windows[min(int(at.Sub(start)/window), len(windows)-1)]
				wmu.Lock()
				w.lat = append(w.lat, took)
				w.byKind[kind] = append(w.byKind[kind], served)
				if err != nil {
					w.errs++
				} else if status >= 500 {
					w.fivexx++
				}
				wmu.Unlock()
			}
		}()
	}
	sample := func(w *soakWindow) {
		w.anon = anonRSS(t, p.cmd.Process.Pid)
		w.goroutines = goroutines(t, base)
	}
	interval := time.Duration(float64(time.Second) / rate)
	nextImport, imports := start.Add(window/2), 0
	for i, w := range windows {
		end := start.Add(time.Duration(i+1) * window)
		for at := start.Add(time.Duration(i) * window); at.Before(end); at = at.Add(interval) {
			time.Sleep(time.Until(at))
			if !time.Now().Before(nextImport) {
				imports++
				go c.upload(t, fmt.Sprintf("soak-import-%d", imports), 1000)
				nextImport = nextImport.Add(window)
			}
			select {
			case due <- at:
			default:
				wmu.Lock()
				w.late++
				wmu.Unlock()
			}
		}
		sample(w)
	}
	close(due)
	wg.Wait()
	c.waitImports(t)

	first, last := windows[0], windows[len(windows)-1]
	var fivexx, errs, late, n int
	for i, w := range windows {
		fivexx, errs, late, n = fivexx+w.fivexx, errs+w.errs, late+w.late, n+len(w.lat)
		t.Logf("window %d: %d requests, p99 %v, 5xx %d, errors %d, late %d, anon RSS %d MiB, goroutines %d; p99 served by kind:%s",
			i+1, len(w.lat), w.p99().Round(100*time.Microsecond), w.fivexx, w.errs, w.late, w.anon>>20, w.goroutines, w.kinds())
	}
	// The server logs (at warn, as the soak runs it) what held SQLite's
	// writer past half a second: the first place to look for a stall's
	// cause.
	if during := p.logText()[logged:]; during != "" {
		t.Logf("the server's warnings during the soak (%d lines):\n%s", strings.Count(during, "\n"), lastLines(during, 40))
	}
	if dbLog != nil {
		t.Logf("PostgreSQL's slow statements (over 200 ms) and autovacuum runs (over 500 ms) during the soak:\n%s", pgSlowSummary(dbLog()))
	}
	if fivexx > 0 || errs > 0 {
		t.Errorf("%d answers were 5xx and %d requests failed, of %d:\n%s", fivexx, errs, n, p.logText())
	}
	// Timing is asserted in the long run only (make reliability, on a
	// machine left to it): the short one runs in CI beside other packages'
	// tests, which take the CPU at random; there it is reported.
	timing := t.Errorf
	if window < time.Minute {
		timing = t.Logf
	}
	if late > n/100 {
		timing("%d of %d requests could not start on time: 80 %% of the maximum is more than linkd sustains", late, n)
	}
	// Stable: the last window's p99 within 2× of the first's, with a
	// floor (a 2 ms p99 that becomes 5 ms is noise, not a degradation).
	if fp, lp := first.p99(), last.p99(); lp > 2*max(fp, 10*time.Millisecond) {
		timing("p99 grew from %v in the first window to %v in the last", fp, lp)
	}
	if last.anon > first.anon+first.anon/2+32<<20 {
		t.Errorf("anonymous memory grew from %d MiB to %d MiB", first.anon>>20, last.anon>>20)
	}
	// Goroutines are compared at rest, before and after: under load their
	// number is mostly the requests in flight.
	c.http.CloseIdleConnections() // each idle keep-alive holds a server goroutine
	var restAfter int
	for range 50 {
		if restAfter = goroutines(t, base); restAfter <= restBefore+10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines at rest: %d before, %d after", restBefore, restAfter)
	if restAfter > restBefore+10 {
		t.Errorf("goroutines at rest grew from %d to %d", restBefore, restAfter)
	}
	// Nothing lost or doubled: the count is the seed, what the traffic
	// made and deleted, and the imports' rows.
	c.mu.Lock()
	want := len(c.ids) + int(c.imported.Load())
	c.mu.Unlock()
	list := getJSON(t, base+"/api/v2/public/linked-account?limit=1", c.key)
	if got, _ := list["totalDocs"].(float64); int(got) != want {
		t.Errorf("totalDocs %v after the soak, want %d", list["totalDocs"], want)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// uploadRaw queues an import of file and returns its job id.
func (c *soakClient) uploadRaw(t *testing.T, file []byte) string {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/api/v2/public/linked-account/import?filename=seed.csv", bytes.NewReader(file))
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("Content-Type", "text/csv")
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("seed upload: %d %v", res.StatusCode, job)
	}
	return job["_id"].(string)
}

// waitImports waits for the given jobs, or every one uploaded, to succeed.
func (c *soakClient) waitImports(t *testing.T, ids ...string) {
	t.Helper()
	if len(ids) == 0 {
		c.mu.Lock()
		ids = slices.Clone(c.jobs)
		c.mu.Unlock()
	}
	for _, j := range ids {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			job := getJSON(t, c.base+"/api/v2/public/linked-account/import/"+j, c.key)
			if job["state"] == "succeeded" {
				break
			}
			if job["state"] != "queued" && job["state"] != "running" || time.Now().After(deadline) {
				t.Fatalf("import %s: %v", j, job)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// anonRSS is the process's anonymous resident memory (RssAnon), in bytes.
func anonRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no RssAnon in /proc/%d/status", pid)
	return 0
}
