package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL cluster of the test's own: its own
// directory and port, started and stopped by the test, so that it can be
// restarted under load without touching the shared server.
type privatePostgres struct {
	bin, data, port string
}

// startPrivatePostgres makes and starts a cluster with initdb and pg_ctl
// as the postgres user. It skips where that cannot be done (not root, no
// postgres user, no server binaries).
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	if why := noPrivatePostgres(); why != "" {
		t.Skip(why)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(bins)
	// t.TempDir is private to root; the cluster's directory must be the
	// postgres user's.
	dir, err := os.MkdirTemp("", "linkd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	pg := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "data")}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	pg.port = port
	if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	pg.run(t, "initdb", "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	pg.start(t)
	return pg
}

// noPrivatePostgres says why a private cluster cannot be started here, or
// "" when it can.
func noPrivatePostgres() string {
	if os.Geteuid() != 0 {
		return "needs root to run initdb and pg_ctl as the postgres user"
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return "no postgres user"
	}
	if bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(bins) == 0 {
		return "no PostgreSQL server binaries in /usr/lib/postgresql"
	}
	return ""
}

func (pg *privatePostgres) run(t *testing.T, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, tool)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data, "-w", "-l", pg.logPath(), "-o",
		"-p "+pg.port+" -k "+filepath.Dir(pg.data)+" -c listen_addresses=127.0.0.1 -c fsync=off"+
			" -c log_min_duration_statement=200 -c log_autovacuum_min_duration=500 -c log_checkpoints=on", "start")
}

// logPath is the server's log. It records the statements that took over
// 200 ms, the autovacuum runs over 500 ms and the checkpoints: what a test
// that sees PostgreSQL slow down looks at first (pgSlowSummary).
func (pg *privatePostgres) logPath() string { return filepath.Join(filepath.Dir(pg.data), "log") }

// stop shuts the server down in mode (fast: sessions are ended; immediate:
// as a crash, recovered from the WAL at the next start).
func (pg *privatePostgres) stop(t *testing.T, mode string) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data, "-m", mode, "-w", "stop")
}

func (pg *privatePostgres) url() string {
	return "postgres://postgres@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

// TestReliabilityPostgresRestart restarts PostgreSQL twice (a fast
// shutdown, then a crash) under a load of creates: /readyz goes unready and
// back, requests during the outage end quickly with 503 (not a hang, not a
// 500), linkd resumes without a restart, and nothing is half-written: every
// account is either whole (its GET answers) or absent, and the account count
// equals the accounts there are. Long target only: it starts a private
// cluster.
func TestReliabilityPostgresRestart(t *testing.T) {
	if testing.Short() || !testLong() {
		t.Skip("long target only (LINKD_TEST_LONG=1): starts a private PostgreSQL cluster")
	}
	pg := startPrivatePostgres(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	base := "http://" + addr
	tenv := testEnv{"LINKD_DATA_DIR": t.TempDir(), "LINKD_DATABASE_URL": pg.url()}
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn",
		"LINKD_DATA_DIR="+tenv["LINKD_DATA_DIR"], "LINKD_DATABASE_URL="+pg.url())
	key := newKey(t, tenv, "test")
	p := startLinkd(t, bin, env, base)

	client := &http.Client{Timeout: 30 * time.Second}
	type result struct {
		id     string
		status int
		took   time.Duration
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("pg-%d-%d", c, i)
				body, _ := json.Marshal(map[string]any{"linked_account_id": id, "name": "Account " + id, "udf": map[string]any{"plan": "pro"}})
				req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account", bytes.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("content-type", "application/json")
				t0 := time.Now()
				res, err := client.Do(req)
				r := result{id: id, took: time.Since(t0)}
				if err == nil {
					r.status = res.StatusCode
					res.Body.Close()
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	ready := func() int {
		res, err := client.Get(base + "/readyz")
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitReadyz := func(want int, within time.Duration) time.Duration {
		t.Helper()
		t0 := time.Now()
		for time.Since(t0) < within {
			if ready() == want {
				return time.Since(t0)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("/readyz did not answer %d within %v:\n%s", want, within, p.logText())
		return 0
	}
	outage := func(mode string) {
		time.Sleep(2 * time.Second)
		pg.stop(t, mode)
		unready := waitReadyz(503, 15*time.Second)
		time.Sleep(3 * time.Second) // requests keep coming while it is down
		pg.start(t)
		back := waitReadyz(200, 30*time.Second)
		t.Logf("%s stop: /readyz unready after %v, ready %v after the restart", mode, unready.Round(time.Millisecond), back.Round(time.Millisecond))
	}
	outage("fast")
	outage("immediate")
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()

	var created, refused, other int
	var slowest time.Duration
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		switch r.status {
		case http.StatusOK:
			created++
		case http.StatusServiceUnavailable:
			refused++
			slowest = max(slowest, r.took)
		default:
			other++
		}
	}
	t.Logf("%d creates: %v; slowest 503 took %v", len(results), statuses, slowest.Round(time.Millisecond))
	if refused == 0 {
		t.Fatal("no request met the outage: the test did not test it")
	}
	if other > 0 {
		var errs []string
		for _, l := range strings.Split(p.logText(), "\n") {
			if strings.Contains(l, "level=ERROR") {
				errs = append(errs, l)
			}
		}
		t.Errorf("answers other than 200 and 503 during the restarts: %v; errors logged:\n%s", statuses, strings.Join(errs, "\n"))
	}
	if slowest > 10*time.Second {
		t.Errorf("a request during the outage took %v to fail: it should fail fast", slowest)
	}
	// Nothing half-written: every account acknowledged exists whole; one
	// refused may exist (the commit landed, the answer did not), but whole.
	present := 0
	for _, r := range results {
		req, _ := http.NewRequest("GET", base+"/api/v2/public/linked-account/"+r.id, nil)
		req.Header.Set("x-api-key", key)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var acct map[string]any
		json.NewDecoder(res.Body).Decode(&acct)
		res.Body.Close()
		switch {
		case res.StatusCode == 200:
			present++
			if acct["name"] != "Account "+r.id {
				t.Errorf("%s is half-written: %v", r.id, acct)
			}
		case res.StatusCode == 404 && r.status == http.StatusOK:
			t.Errorf("%s was acknowledged (%d) and is gone", r.id, r.status)
		case res.StatusCode != 404:
			t.Errorf("GET %s: %d", r.id, res.StatusCode)
		}
	}
	list := getJSON(t, base+"/api/v2/public/linked-account?limit=1", key)
	if total, _ := list["totalDocs"].(float64); int(total) != present {
		t.Errorf("the account count says %v, %d accounts exist", list["totalDocs"], present)
	}
	t.Logf("%d acknowledged, %d present after the restarts", created, present)
	// Work goes on after the last restart without restarting linkd.
	req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account", strings.NewReader(`{"linked_account_id":"after","name":"After"}`))
	req.Header.Set("x-api-key", key)
	req.Header.Set("content-type", "application/json")
	res, err := client.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("a create after the restarts: %v %v", res, err)
	}
	res.Body.Close()
}
