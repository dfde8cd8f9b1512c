package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// TestWorkflowsSurviveKill9 runs the real binary, kills it with SIGKILL
// while four runs are inside their second step (the first committed), and
// starts it again: every run completes, the committed first step is not
// sent again, and the step that was cut off is sent again with the same
// Idempotency-Key, so an app that honours it does the step once.
func TestWorkflowsSurviveKill9(t *testing.T) {
	onEachEngine(t, testWorkflowKill9)
}

func testWorkflowKill9(t *testing.T, bin string, tenv testEnv) {
	const runs = 4 // the per-tenant cap: all inside step two at once
	var mu sync.Mutex
	hits := map[string][]string{} // path → Idempotency-Keys, in order
	hold := make(chan struct{})   // closed once the server is killed
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path] = append(hits[r.URL.Path], r.Header.Get("Idempotency-Key"))
		n := len(hits[r.URL.Path])
		mu.Unlock()
		if r.URL.Path == "/api/second" && n <= runs {
			<-hold // the first attempts of step two never answer
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	defer app.Close()
	defer func() {
		select {
		case <-hold:
		default:
			close(hold)
		}
	}()
	count := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(hits[path])
	}
	apps := notesApp(t, app.URL, `      - id: two-steps
        name: Two steps
        trigger: {event: Note Added}
        steps:
          - id: first
            http: {method: POST, path: /first, body: {n: "{{event.n}}"}}
          - id: second
            http: {method: POST, path: /second, body: {n: "{{event.n}}"}}
          - id: out
            return: {done: true}
`)
	addr := freeAddr(t)
	base := "http://" + addr
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "LINKD_APPS="+apps, "LINKD_JOB_LEASE=5s")
	for k, v := range tenv {
		env = append(env, k+"="+v)
	}
	p := startLinkd(t, bin, env, base)
	key := newKey(t, tenv, "test")
	do := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("linked_account_id", "cust")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
		}
		return out
	}
	do("POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust"}`)
	do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-1"}`)
	do("PUT", "/api/v2/public/config", `{"slug":"notes","workflows":[{"id":"two-steps","enabled":true}]}`)
	do("POST", "/api/v2/public/application/event", `{"name":"Note Added"}`)
	var ids []string
	for i := range runs {
		fired := do("POST", "/api/v2/public/event/trigger", fmt.Sprintf(`{"event":"Note Added","payload":{"n":"%d"}}`, i))
		ids = append(ids, fired["execution_ids"].([]any)[0].(string))
	}
	waitFor(t, "every run to be inside step two", func() bool { return count("/api/second") == runs })
	p.cmd.Process.Kill()
	p.cmd.Wait()
	close(hold)

	// Started again: the runs' leases run out (LINKD_JOB_LEASE, 5 s) and it
	// takes them up.
	p = startLinkd(t, bin, env, base)
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		for {
			st := do("GET", "/api/v2/public/execution/"+id, "")["status"]
			if st == linkd.ExecCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s is %v two minutes after the restart:\n%s", id, st, p.logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := hits["/api/first"]; len(got) != runs {
		t.Fatalf("step one was sent %d times for %d runs: a committed step ran again", len(got), runs)
	}
	// Step two: each run's key twice (the attempt cut off, the one after
	// the restart), never a new key.
	perKey := map[string]int{}
	for _, k := range hits["/api/second"] {
		perKey[k]++
	}
	if len(perKey) != runs {
		t.Fatalf("step two was sent with %d different Idempotency-Keys for %d runs: %v", len(perKey), runs, perKey)
	}
	for k, n := range perKey {
		if k == "" || n != 2 {
			t.Fatalf("step two's key %q was sent %d times, want 2 (cut off, then again): %v", k, n, perKey)
		}
	}
}
