package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkflowsSurviveRepeatedKill9 runs the real binary while events start
// workflow runs steadily (configs switch a second workflow on and off, and
// runs just started are stopped) and kills it with SIGKILL at random
// moments, starting it again each time: twice in the short run, 20 times
// with LINKD_TEST_LONG. The app the runs call logs every step call with
// its Idempotency-Key, answers after a small random delay and fails one
// step in five once with a 503. Afterwards every run that was started
// (acknowledged, or cut off after its commit) has ended: completed, or
// stopped if a stop was sent; each (run, step) was called under one
// Idempotency-Key, never after its outcome was committed (before a kill,
// or at all) nor after its run ended, and called again only after a 503
// or after the process that called it died; a run a dead process held
// and that was stopped ends without another call; each run's end is
// announced once; and the counters (active workflows, app counts, runs
// per trigger, runs per account) equal recounts from the rows.
//
// Runs a killed process held wait for their lease (LINKD_JOB_LEASE, 5 s
// here against the default 30 s): the load goes on until they are taken
// over.
func TestWorkflowsSurviveRepeatedKill9(t *testing.T) {
	onEachEngine(t, testWorkflowKills)
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
		"LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "LINKD_APPS": notesApp(t, app.URL, relayWorkflows),
		"LINKD_JOB_LEASE": "5s"}
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
	// Each run's end is announced once: an endpoint takes the workflow
	// events (the receiver only answers).
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer recv.Close()
	a.must(t, "POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Workflow Completed","Workflow Stopped","Workflow Errored","Workflow Timed Out"]}`)
	// On PostgreSQL a COMMIT the killed process sent can still land after
	// it died, so the rows are read once its sessions have ended; the
	// recount's own sessions are told apart by name.
	pg := tenv["LINKD_DATABASE_URL"] != ""
	rt := maps.Clone(tenv)
	if pg {
		u, err := url.Parse(rt["LINKD_DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", "recount")
		u.RawQuery = q.Encode()
		rt["LINKD_DATABASE_URL"] = u.String()
	}
	db := openRecount(t, rt)
	var settleMax time.Duration // the longest a dead process's sessions outlived it
	settle := func() {
		from := time.Now()
		defer func() { settleMax = max(settleMax, time.Since(from)) }()
		for deadline := time.Now().Add(10 * time.Second); pg && sqlCount(t, db, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> 'recount'`) > 0; {
			if time.Now().After(deadline) {
				t.Fatal("the killed process's sessions outlived it by 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The load: two clients fire Note Added for random accounts, one
	// switches spare on and off, one stops runs just started. A request
	// the kill cut off may have committed or not; the rows say which.
	var (
		quit      atomic.Bool
		wg        sync.WaitGroup
		seq       atomic.Int64
		amu       sync.Mutex
		acked     [][2]string         // acknowledged runs: id, account
		stopTried = map[string]bool{} // runs a stop was sent for
		fired     atomic.Int64
		toggles   atomic.Int64
		stops     atomic.Int64
		syncs     atomic.Int64
	)
	// load sends req's requests until the test quits; headers start with
	// the account's (linked_account_id), and ok sees each answer.
	load := func(req func() (method, path, body string, headers []string), ok func(account string, out map[string]any)) {
		for !quit.Load() {
			method, path, body, headers := req()
			if path == "" {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			s, out, _ := a.do(method, path, body, headers...)
			switch {
			case s == 200:
				ok(headers[1], out)
			case s == 0:
				time.Sleep(50 * time.Millisecond) // the server is down
			default:
				t.Errorf("%s %s: %d %v", method, path, s, out)
			}
			time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
		}
	}
	anyAccount := func() []string { return []string{"linked_account_id", acct(rand.IntN(accounts))} }
	for range 2 {
		wg.Go(func() {
			load(func() (string, string, string, []string) {
				return "POST", "/api/v2/public/event/trigger", `{"event":"Note Added","payload":{"n":"` + strconv.FormatInt(seq.Add(1), 10) + `"}}`, anyAccount()
			}, func(account string, out map[string]any) {
				fired.Add(1)
				ids, _ := out["execution_ids"].([]any)
				amu.Lock()
				defer amu.Unlock()
				for _, id := range ids {
					acked = append(acked, [2]string{id.(string), account})
				}
			})
		})
	}
	// Synchronous runs of relay: answered when they end, within 30 s,
	// each with its return value.
	wg.Go(func() {
		load(func() (string, string, string, []string) {
			return "POST", "/api/v2/public/workflow/relay/execute", `{"n":"` + strconv.FormatInt(seq.Add(1), 10) + `"}`,
				append(anyAccount(), "slug", "notes", "sync_execution", "true")
		}, func(account string, out map[string]any) {
			ret, _ := out["return_value"].(map[string]any)
			if out["status"] != "COMPLETED" || ret == nil || ret["n"] == nil {
				t.Errorf("synchronous run of %s answered %v", account, out)
			}
			id, _ := out["execution_id"].(string)
			syncs.Add(1)
			amu.Lock()
			defer amu.Unlock()
			acked = append(acked, [2]string{id, account})
		})
	})
	wg.Go(func() {
		load(func() (string, string, string, []string) {
			h := anyAccount()
			return "PATCH", "/api/v2/public/slug/notes/config/" + h[1] + "/workflows/spare", fmt.Sprintf(`{"enabled":%t}`, rand.IntN(2) == 0), h
		}, func(string, map[string]any) { toggles.Add(1) })
	})
	wg.Go(func() {
		load(func() (string, string, string, []string) {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
			amu.Lock()
			defer amu.Unlock()
			if len(acked) == 0 {
				return "", "", "", nil
			}
			run := acked[len(acked)-1-rand.IntN(min(len(acked), 10))]
			stopTried[run[0]] = true
			return "POST", "/api/v2/public/execution/" + run[0] + "/stop", "", []string{"linked_account_id", run[1]}
		}, func(string, map[string]any) { stops.Add(1) })
	})

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 16))
	unended := `SELECT id, coalesce(lease_owner, ''), account_id FROM executions WHERE status NOT IN ('COMPLETED', 'ERRORED', 'STOPPED', 'TIMED_OUT')`
	var killedAt []time.Time
	cut := 0 // step calls in flight at the app when a kill came
	// committedBy holds, for each step committed before a kill, the first
	// such kill: the rows read while no process runs are exactly what was
	// committed, and no call may come after.
	committedBy := map[string]time.Time{}
	// stoppedHeld are runs a dead process held, stopped after the
	// restart (one per kill that left two or more, so the others resume
	// their cut-off steps): each must end STOPPED with no call after the
	// stop.
	stoppedHeld := map[string]time.Time{}
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		cut += int(inFlight.Load())
		dead := "-" + strconv.Itoa(p.cmd.Process.Pid) + "-"
		sigkill(t, p)
		now := time.Now()
		killedAt = append(killedAt, now)
		settle()
		for k := range rowsOf(t, db, `SELECT execution_id || '/' || step_id FROM execution_nodes WHERE status = 'Success'`) {
			if _, ok := committedBy[k]; !ok {
				committedBy[k] = now
			}
		}
		var held [][2]string
		for id, r := range rowsOf(t, db, unended) {
			if strings.Contains(r[0], dead) {
				held = append(held, [2]string{id, r[1]})
			}
		}
		p = startLinkd(t, bin, env, base)
		if len(held) > 1 {
			run := held[0]
			// Its lease (5 s) outlives the dead process: the stop
			// waits for the run's next step, which is none.
			if out := a.must(t, "POST", "/api/v2/public/execution/"+run[0]+"/stop", nil, "linked_account_id", run[1]); out["status"] != "STOPPING" {
				t.Errorf("stop of %s, held by a dead process: %v, want STOPPING", run[0], out["status"])
			}
			stoppedHeld[run[0]] = time.Now()
		}
	}
	lastKill := killedAt[len(killedAt)-1]

	// The load goes on until no run is held by a dead process: each waits
	// for its lease to run out and is taken over.
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
			quit.Store(true)
			t.Fatalf("runs still held by dead processes 2 minutes after the last kill:\n%s", p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := time.Since(lastKill)
	quit.Store(true)
	wg.Wait()
	for deadline := time.Now().Add(time.Minute); len(owners(t, db, unended)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs not ended a minute after the load stopped:\n%s", len(owners(t, db, unended)), p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	settled := time.Since(lastKill)

	// Every run there ended: completed, or stopped if a stop was sent;
	// every acknowledged one is there.
	payload, micros := `json_extract(payload, '$.n')`, func(col string) string { return col }
	if pg {
		payload = `payload->>'n'`
		micros = func(col string) string { return `CAST(extract(epoch FROM ` + col + `) * 1000000 AS BIGINT)` }
	}
	runs := rowsOf(t, db, `SELECT id, workflow_id, `+payload+`, status, `+micros("finished_at")+` FROM executions`)
	for _, run := range acked {
		if _, ok := runs[run[0]]; !ok {
			t.Errorf("acknowledged run %s is gone", run[0])
		}
	}
	stopped := 0
	for id, r := range runs {
		switch {
		case r[2] == "STOPPED" && stopTried[id]:
			stopped++
		case !stoppedHeld[id].IsZero():
			stopped++
			if r[2] != "STOPPED" {
				t.Errorf("run %s, stopped while a dead process held it, is %s", id, r[2])
			}
		case r[2] != "COMPLETED":
			t.Errorf("run %s is %s, want COMPLETED (no stop was sent)", id, r[2])
		}
	}

	// Each relay run's steps: each called under linkd-<run>-<step> alone;
	// again only after a 503 (not before half the backoff) or after the
	// process that made the call before died; never after a kill it was
	// committed before, nor after its last commit, nor after the run
	// ended or a stop of a run a dead process held. A completed run has
	// every step committed.
	nodes := rowsOf(t, db, `SELECT execution_id || '/' || step_id, status, `+micros("updated_at")+`, attempts FROM execution_nodes`)
	mu.Lock()
	defer mu.Unlock()
	relayOf := map[string]string{} // n → relay run
	repeats, retries := 0, 0
	for id, r := range runs {
		if r[0] != "relay" {
			continue
		}
		relayOf[r[1]] = id
		us, _ := strconv.ParseInt(r[3], 10, 64)
		ended := time.UnixMicro(us)
		for _, step := range relaySteps {
			node, done := nodes[id+"/"+step]
			done = done && node[0] == "Success"
			var committed time.Time
			if done {
				us, _ := strconv.ParseInt(node[1], 10, 64)
				committed = time.UnixMicro(us)
			}
			if !done && r[2] == "COMPLETED" {
				t.Errorf("run %s completed with step %s %v", id, step, node)
			}
			cs := calls[r[1]+"/"+step]
			if done && len(cs) == 0 {
				t.Errorf("run %s step %s is committed but the app never saw it", id, step)
			}
			for i, c := range cs {
				late := func(what string, at time.Time) {
					t.Errorf("run %s step %s called at %s, after %s at %s", id, step, c.at.Format(time.StampMicro), what, at.Format(time.StampMicro))
				}
				if want := "linkd-" + id + "-" + step; c.key != want {
					t.Errorf("run %s step %s called with Idempotency-Key %q, want %q", id, step, c.key, want)
				}
				if k, ok := committedBy[id+"/"+step]; ok && c.at.After(k) {
					late("the kill it had been committed before: a committed step ran again", k)
				}
				if done && c.at.After(committed) {
					late("its outcome was committed: a committed step ran again", committed)
				}
				if c.at.After(ended) {
					late("the run ended", ended)
				}
				if at, ok := stoppedHeld[id]; ok && c.at.After(at) {
					late("the run was stopped", at)
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
			if !done {
				continue
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

	// Each run's end announced once, as its status; the counters equal
	// recounts.
	instance, runsOf := `json_extract(payload, '$.instance_id')`, `CAST(json_extract(details, '$.executions') AS BIGINT)`
	if pg {
		instance, runsOf = `payload->>'instance_id'`, `CAST(details->>'executions' AS BIGINT)`
	}
	announced := pairs(t, db, `SELECT `+instance+`, count(*) FROM webhook_events WHERE type LIKE 'Workflow %' GROUP BY `+instance)
	as := rowsOf(t, db, `SELECT `+instance+`, type FROM webhook_events WHERE type LIKE 'Workflow %'`)
	for id, r := range runs {
		want := map[string]string{"COMPLETED": "Workflow Completed", "STOPPED": "Workflow Stopped"}[r[2]]
		if got := as[id]; announced[id] != 1 || len(got) == 0 || got[0] != want {
			t.Errorf("run %s (%s) announced %d times, as %q", id, r[2], announced[id], as[id])
		}
	}
	if len(announced) != len(runs) {
		t.Errorf("%d runs announced their end, %d runs there", len(announced), len(runs))
	}
	fromEvents := sqlCount(t, db, `SELECT count(*) FROM executions WHERE source = 'Event'`)
	if n := sqlCount(t, db, `SELECT CAST(coalesce(sum(`+runsOf+`), 0) AS BIGINT) FROM audit_log WHERE action = 'event.trigger'`); n != fromEvents {
		t.Errorf("the triggers' audit entries count %d runs, there are %d", n, fromEvents)
	}
	if n := sqlCount(t, db, `SELECT count(*) FROM audit_log WHERE action = 'workflow.execute'`); n != int64(len(runs))-fromEvents {
		t.Errorf("%d direct runs in the audit log, %d there", n, int64(len(runs))-fromEvents)
	}
	perAccount := pairs(t, db, `SELECT account_id, count(*) FROM executions GROUP BY account_id`)
	for i := range accounts {
		list := a.must(t, "GET", "/api/v2/public/execution?limit=1&status=All", nil, "linked_account_id", acct(i))
		if list["totalDocs"] != float64(perAccount[acct(i)]) {
			t.Errorf("%s: the API counts %v runs, a recount %d", acct(i), list["totalDocs"], perAccount[acct(i)])
		}
	}
	checkCounters(t, db)

	t.Logf("%d kills (%d step calls in flight at them); %d triggers acknowledged of %d tried, %d synchronous runs answered, %d spare toggles, %d stops (%d of runs a dead "+
		"process held); %d runs (%d relay, %d acknowledged, %d cut off and committed; %d stopped); %d step calls, %d of them retries after a 503 "+
		"and %d repeats after a kill; %d runs held by dead processes after the last kill, all taken over %s after it, all ended %s after it; a killed process's sessions ended within %s; %s in all",
		kills, cut, fired.Load(), seq.Load()-syncs.Load(), syncs.Load(), toggles.Load(), stops.Load()+int64(len(stoppedHeld)), len(stoppedHeld), len(runs), len(relayOf),
		len(acked), len(runs)-len(acked), stopped, len(calls)+retries+repeats, retries, repeats, stranded,
		takeover.Round(100*time.Millisecond), settled.Round(100*time.Millisecond), settleMax.Round(time.Millisecond), time.Since(start).Round(time.Second))
}
