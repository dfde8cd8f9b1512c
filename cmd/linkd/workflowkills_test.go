package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkflowsSurviveRepeatedKill9 runs the real binary while events start
// workflow runs steadily (and configs switch a second workflow on and off)
// and kills it with SIGKILL at random moments, starting it again each
// time: twice in the short run, 20 times with LINKD_TEST_LONG. The app the
// runs call logs every step call with its Idempotency-Key and answers
// after a small random delay. Afterwards every run that was started
// (acknowledged, or cut off after its commit) has completed; each
// (run, step) was called under one Idempotency-Key, never after its
// outcome was committed, and called again only after the process that
// called it died; each run ended once (one completion audit entry); and
// the counters (active workflows, app counts, runs per trigger, runs per
// account) equal recounts from the rows.
func TestWorkflowsSurviveRepeatedKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) { testWorkflowKills(t, bin, env) })
	}
}

// relayWorkflows is the catalog of the kill test: relay calls the app in
// three steps, the second reading the first's output (so a resumed run
// must have the committed outputs back), each retried on a 5xx after a
// second (so kills also land on runs waiting for a retry); spare, fired by the same event
// and switched on and off while the server is killed, calls nothing.
const relayWorkflows = `      - id: relay
        name: Relay
        trigger: {event: Note Added}
        steps:
          - id: first
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /first, body: {n: "{{event.n}}"}}
          - id: second
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /second, body: {n: "{{event.n}}", after: "{{steps.first.body.step}}"}}
          - id: third
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: PUT, path: /third, body: {n: "{{event.n}}"}}
          - id: out
            return: {n: "{{event.n}}"}
      - id: spare
        name: Spare
        trigger: {event: Note Added}
        steps:
          - id: out
            return: {n: "{{event.n}}"}
`

// relaySteps are relay's http steps.
var relaySteps = []string{"first", "second", "third"}

// stepCall is one call the app received: its Idempotency-Key, when it
// arrived, and whether the app answered 503 (a retry follows).
type stepCall struct {
	key    string
	at     time.Time
	failed bool
}

func testWorkflowKills(t *testing.T, bin string, tenv testEnv) {
	start := time.Now()
	kills := 2
	if testLong() {
		kills = 20
	}
	const accounts = 6
	var (
		mu       sync.Mutex
		calls    = map[string][]stepCall{} // "n/step" → calls in order of arrival
		inFlight atomic.Int64              // calls received and not yet answered
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		inFlight.Add(1)
		defer inFlight.Add(-1)
		var body struct {
			N string `json:"n"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		step := strings.TrimPrefix(r.URL.Path, "/api/")
		k := body.N + "/" + step
		mu.Lock()
		// One step in five fails its first call.
		fail := len(calls[k]) == 0 && rand.IntN(5) == 0
		calls[k] = append(calls[k], stepCall{r.Header.Get("Idempotency-Key"), at, fail})
		mu.Unlock()
		time.Sleep(time.Duration(2+rand.IntN(30)) * time.Millisecond)
		if fail {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"step":%q}`, step)
	}))
	defer app.Close()

	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_LOG_LEVEL": "warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "LINKD_APPS": notesApp(t, app.URL, relayWorkflows)}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	a := api{base: base, key: newKey(t, tenv, "test")}
	p := startLinkd(t, bin, env, base)
	a.must(t, "POST", "/api/v2/public/application/event", `{"name":"Note Added"}`)
	acct := func(i int) string { return fmt.Sprintf("wf-%d", i) }
	for i := range accounts {
		h := []string{"linked_account_id", acct(i)}
		a.must(t, "POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+acct(i)+`"}`)
		a.must(t, "PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-1"}`, h...)
		a.must(t, "PUT", "/api/v2/public/config", `{"slug":"notes","workflows":[{"id":"relay","enabled":true}]}`, h...)
	}
	db := openRecount(t, tenv)
	pg := tenv["LINKD_DATABASE_URL"] != ""

	// The load: two clients fire Note Added for random accounts, one
	// switches spare on and off. A request the kill cut off may have
	// committed or not; the rows say which.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		seq     atomic.Int64
		amu     sync.Mutex
		acked   []string // execution ids of acknowledged triggers
		fired   atomic.Int64
		toggles atomic.Int64
	)
	load := func(req func(id string) (method, path, body string), ok func(map[string]any)) {
		for !stop.Load() {
			id := acct(rand.IntN(accounts))
			method, path, body := req(id)
			s, out, _ := a.do(method, path, body, "linked_account_id", id)
			switch {
			case s == 200:
				ok(out)
			case s == 0:
				time.Sleep(50 * time.Millisecond) // the server is down
			default:
				t.Errorf("%s %s: %d %v", method, path, s, out)
			}
			time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
		}
	}
	for range 2 {
		wg.Go(func() {
			load(func(string) (string, string, string) {
				return "POST", "/api/v2/public/event/trigger", `{"event":"Note Added","payload":{"n":"` + strconv.FormatInt(seq.Add(1), 10) + `"}}`
			}, func(out map[string]any) {
				fired.Add(1)
				ids, _ := out["execution_ids"].([]any)
				amu.Lock()
				defer amu.Unlock()
				for _, id := range ids {
					acked = append(acked, id.(string))
				}
			})
		})
	}
	wg.Go(func() {
		load(func(id string) (string, string, string) {
			return "PATCH", "/api/v2/public/slug/notes/config/" + id + "/workflows/spare", fmt.Sprintf(`{"enabled":%t}`, rand.IntN(2) == 0)
		}, func(map[string]any) { toggles.Add(1) })
	})

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 16))
	var killedAt []time.Time
	cut := 0 // step calls in flight at the app when a kill came
	// committedBy holds, for each step committed before a kill, the first
	// such kill: the rows read while no process runs are exactly what was
	// committed, and no call may come after.
	committedBy := map[string]time.Time{}
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		cut += int(inFlight.Load())
		sigkill(t, p)
		now := time.Now()
		killedAt = append(killedAt, now)
		for k := range rowsOf(t, db, `SELECT execution_id || '/' || step_id FROM execution_nodes WHERE status = 'Success'`) {
			if _, ok := committedBy[k]; !ok {
				committedBy[k] = now
			}
		}
		p = startLinkd(t, bin, env, base)
	}
	lastKill := killedAt[len(killedAt)-1]

	// The load goes on until no run is held by a dead process: each waits
	// for its lease to run out and is taken over.
	unended := `SELECT id, coalesce(lease_owner, '') FROM executions WHERE status NOT IN ('COMPLETED', 'ERRORED', 'STOPPED', 'TIMED_OUT')`
	live := "-" + strconv.Itoa(p.cmd.Process.Pid) + "-"
	heldByDead := func() int {
		n := 0
		for _, owner := range owners(t, db, unended) {
			if owner != "" && !strings.Contains(owner, live) {
				n++
			}
		}
		return n
	}
	stranded := heldByDead()
	for deadline := time.Now().Add(2 * time.Minute); heldByDead() > 0; {
		if time.Now().After(deadline) {
			stop.Store(true)
			t.Fatalf("runs still held by dead processes 2 minutes after the last kill:\n%s", p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := time.Since(lastKill)
	stop.Store(true)
	wg.Wait()
	for deadline := time.Now().Add(time.Minute); len(owners(t, db, unended)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs not ended a minute after the load stopped:\n%s", len(owners(t, db, unended)), p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	settled := time.Since(lastKill)

	// Every run there is completed, every acknowledged one among them.
	if st := pairs(t, db, `SELECT status, count(*) FROM executions GROUP BY status`); len(st) != 1 || st["COMPLETED"] == 0 {
		t.Errorf("runs by status: %v, want all COMPLETED", st)
	}
	payload := `json_extract(payload, '$.n')`
	if pg {
		payload = `payload->>'n'`
	}
	runs := rowsOf(t, db, `SELECT id, workflow_id, `+payload+` FROM executions`)
	for _, id := range acked {
		if _, ok := runs[id]; !ok {
			t.Errorf("acknowledged run %s is gone", id)
		}
	}

	// Each relay run's steps: committed (Success), each called under
	// linkd-<run>-<step> alone, never after a kill it was committed
	// before nor after its last commit, and again only after the process
	// that made the call before it died.
	micros := `updated_at`
	if pg {
		micros = `CAST(extract(epoch FROM updated_at) * 1000000 AS BIGINT)`
	}
	nodes := rowsOf(t, db, `SELECT execution_id || '/' || step_id, status, `+micros+`, attempts FROM execution_nodes`)
	mu.Lock()
	defer mu.Unlock()
	relayOf := map[string]string{} // n → relay run
	repeats, retries := 0, 0
	for id, r := range runs {
		if r[0] != "relay" {
			continue
		}
		relayOf[r[1]] = id
		for _, step := range relaySteps {
			node, ok := nodes[id+"/"+step]
			if !ok || node[0] != "Success" {
				t.Errorf("run %s step %s: node %v, want Success", id, step, node)
				continue
			}
			us, _ := strconv.ParseInt(node[1], 10, 64)
			committed := time.UnixMicro(us)
			cs := calls[r[1]+"/"+step]
			if len(cs) == 0 {
				t.Errorf("run %s step %s is committed but the app never saw it", id, step)
			}
			for i, c := range cs {
				if want := "linkd-" + id + "-" + step; c.key != want {
					t.Errorf("run %s step %s called with Idempotency-Key %q, want %q", id, step, c.key, want)
				}
				if k, ok := committedBy[id+"/"+step]; ok && c.at.After(k) {
					t.Errorf("run %s step %s called at %s, after the kill at %s it had been committed before: a committed step ran again",
						id, step, c.at.Format(time.StampMicro), k.Format(time.StampMicro))
				}
				if c.at.After(committed) {
					t.Errorf("run %s step %s called at %s, after its outcome was committed at %s: a committed step ran again",
						id, step, c.at.Format(time.StampMicro), committed.Format(time.StampMicro))
				}
				switch prev := cs[max(i-1, 0)]; {
				case i == 0:
				case prev.failed:
					retries++
					if c.at.Sub(prev.at) < 500*time.Millisecond {
						t.Errorf("run %s step %s retried %s after the 503, sooner than half the 1 s backoff", id, step, c.at.Sub(prev.at))
					}
				case slices.ContainsFunc(killedAt, func(k time.Time) bool { return prev.at.Before(k) && k.Before(c.at) }):
					repeats++
				default:
					t.Errorf("run %s step %s called again at %s with no kill nor failure since the call at %s",
						id, step, c.at.Format(time.StampMicro), prev.at.Format(time.StampMicro))
				}
			}
			if n, _ := strconv.Atoi(node[2]); n < 1 || n > len(cs) {
				t.Errorf("run %s step %s: %d attempts made, the app saw %d calls", id, step, n, len(cs))
			}
		}
	}
	for k := range calls {
		if n, _, _ := strings.Cut(k, "/"); relayOf[n] == "" {
			t.Errorf("the app was called for %s, of no run", k)
		}
	}

	// Each run ended once, and the counters equal recounts.
	execID, runsOf := `json_extract(details, '$.execution_id')`, `CAST(json_extract(details, '$.executions') AS BIGINT)`
	if pg {
		execID, runsOf = `details->>'execution_id'`, `CAST(details->>'executions' AS BIGINT)`
	}
	ends := pairs(t, db, `SELECT `+execID+`, count(*) FROM audit_log WHERE action LIKE 'execution.%' GROUP BY `+execID)
	for id := range runs {
		if ends[id] != 1 {
			t.Errorf("run %s ended %d times (audit entries), want once", id, ends[id])
		}
	}
	if len(ends) != len(runs) {
		t.Errorf("%d runs ended (audit entries), %d runs there", len(ends), len(runs))
	}
	if n := sqlCount(t, db, `SELECT CAST(coalesce(sum(`+runsOf+`), 0) AS BIGINT) FROM audit_log WHERE action = 'event.trigger'`); n != int64(len(runs)) {
		t.Errorf("the triggers' audit entries count %d runs, there are %d", n, len(runs))
	}
	perAccount := pairs(t, db, `SELECT account_id, count(*) FROM executions GROUP BY account_id`)
	for i := range accounts {
		list := a.must(t, "GET", "/api/v2/public/execution?limit=1&status=All", nil, "linked_account_id", acct(i))
		if list["totalDocs"] != float64(perAccount[acct(i)]) {
			t.Errorf("%s: the API counts %v runs, a recount %d", acct(i), list["totalDocs"], perAccount[acct(i)])
		}
	}
	checkCounters(t, db)

	t.Logf("%d kills (%d step calls in flight at them); %d triggers acknowledged of %d tried, %d spare toggles; %d runs (%d relay, "+
		"%d acknowledged, %d cut off and committed); %d step calls, %d of them retries after a 503 and %d repeats after a kill; %d runs held by dead processes "+
		"after the last kill, all taken over %s after it, all ended %s after it; %s in all",
		kills, cut, fired.Load(), seq.Load(), toggles.Load(), len(runs), len(relayOf), len(acked), len(runs)-len(acked),
		len(calls)+retries+repeats, retries, repeats, stranded, takeover.Round(100*time.Millisecond), settled.Round(100*time.Millisecond),
		time.Since(start).Round(time.Second))
}
