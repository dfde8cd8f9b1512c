package main

import (
	"database/sql"
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
	"syscall"
	"testing"
	"time"
)

// TestWorkflowTriggersSurviveRepeatedKill9 runs the real binary while a
// scheduled workflow's ticks fall due every 3 s (LINKD_SCHEDULE_EVERY) for
// 20 accounts and new accounts connect the app (each connection starts a
// workflow), and kills it with SIGKILL, starting it again each time: twice
// in the short run, 20 times with LINKD_TEST_LONG. Every other kill comes
// at a random moment, the others right after a tick is seen committed (the
// moment a tick and its runs could be torn apart). The app the runs call
// logs each step call with its Idempotency-Key, answers after a small
// random delay and fails one step in five once with a 503.
//
// Afterwards: each tick fired ran once for every config (none lost, none
// twice) and no run names a tick that was not fired; every period a live
// process saw for long enough (its start, or the period's start, plus the
// 1 s jitter and 2 s of slack) was fired; each connection event (audit
// entry) started one run; every run completed; each (run, step) was called
// under its own Idempotency-Key, never after its outcome was committed
// (before a kill, or at all) nor after its run ended, and again only after
// a 503 or a kill; and the counters equal recounts from the rows.
func TestWorkflowTriggersSurviveRepeatedKill9(t *testing.T) {
	onEachEngine(t, testTriggerKills)
}

// TestWorkflowTriggersSurviveKill9MidTick is the same test with each
// tick in batches of 6 configs (LINKD_TICK_BATCH; 4 batches for the 20
// configs, each its own transaction): the kills right after a tick is
// seen come as its first batch commits, so they cut ticks off mid-way,
// and the checks require that a later fire (the process started again,
// once the 5 s lease ran out) queued the rest, none twice.
func TestWorkflowTriggersSurviveKill9MidTick(t *testing.T) {
	onEachEngine(t, func(t *testing.T, bin string, tenv testEnv) {
		tenv = maps.Clone(tenv)
		tenv["LINKD_TICK_BATCH"] = "6"
		testTriggerKills(t, bin, tenv)
	})
}

// triggerWorkflows is the catalog of the trigger kill test: tick runs on a
// schedule (1h in the catalog, 3 s under LINKD_SCHEDULE_EVERY), hello when
// an account connects; each calls the app in two steps, retried on a 5xx.
const triggerWorkflows = `      - id: tick
        name: Tick
        trigger: {every: 1h}
        steps:
          - id: first
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /tick/first, body: {at: "{{event.scheduled_at}}"}}
          - id: second
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /tick/second, body: {at: "{{event.scheduled_at}}"}}
          - id: out
            return: {at: "{{event.scheduled_at}}"}
      - id: hello
        name: Hello
        trigger: {connection: created}
        steps:
          - id: first
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /hello/first, body: {account: "{{event.linked_account_id}}"}}
          - id: second
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: PUT, path: /hello/second, body: {account: "{{event.linked_account_id}}"}}
          - id: out
            return: {ok: true}
`

// Timing of the trigger kill test: the schedule's period, and how long a
// live process may take to fire a period it saw (Schedule.Run's jitter of
// up to 1 s, plus slack for a loaded machine).
const (
	triggerPeriod = 3 * time.Second
	triggerFireBy = 3 * time.Second
)

// tickSchedule is the name the tick workflow's schedule records its
// ticks under (workflow.Schedules).
const tickSchedule = "workflow:notes/tick"

// settledRecount opens the recount database and returns a function that
// waits until a killed process's sessions have ended: on PostgreSQL a
// COMMIT the killed process sent can still land after it died. The
// recount's own sessions are told apart by name; given names, settle waits
// for the sessions of those application names only (the killed instances',
// while others live). It returns how long the longest wait was, through
// longest.
func settledRecount(t *testing.T, tenv testEnv) (db *sql.DB, settle func(names ...string), longest func() time.Duration) {
	pg := tenv["LINKD_DATABASE_URL"] != ""
	rt := tenv
	if pg {
		rt = withAppName(t, tenv, "recount")
	}
	db = openRecount(t, rt)
	var most time.Duration
	settle = func(names ...string) {
		from := time.Now()
		defer func() { most = max(most, time.Since(from)) }()
		which := `application_name <> 'recount'`
		if len(names) > 0 {
			which = `application_name IN ('` + strings.Join(names, `', '`) + `')`
		}
		for deadline := time.Now().Add(10 * time.Second); pg && sqlCount(t, db, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend' AND `+which) > 0; {
			if time.Now().After(deadline) {
				t.Fatal("the killed process's sessions outlived it by 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return db, settle, func() time.Duration { return most }
}

// withAppName returns tenv with its PostgreSQL URL naming its sessions
// name (application_name), so that pg_stat_activity tells them apart.
func withAppName(t *testing.T, tenv testEnv, name string) testEnv {
	t.Helper()
	u, err := url.Parse(tenv["LINKD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	out := maps.Clone(tenv)
	out["LINKD_DATABASE_URL"] = u.String()
	return out
}

// stepApp is the app the trigger kill tests' runs call: it logs each step
// call with its Idempotency-Key and when it arrived, answers after 2–32 ms
// and fails one step in five once with a 503.
type stepApp struct {
	*httptest.Server
	mu       sync.Mutex
	calls    map[string][]stepCall // Idempotency-Key → calls in order of arrival
	inFlight atomic.Int64
}

func newStepApp(t *testing.T) *stepApp {
	s := &stepApp{calls: map[string][]stepCall{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		k := r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		fail := len(s.calls[k]) == 0 && rand.IntN(5) == 0 // one step in five fails its first call
		s.calls[k] = append(s.calls[k], stepCall{k, at, fail})
		s.mu.Unlock()
		time.Sleep(time.Duration(2+rand.IntN(30)) * time.Millisecond)
		if fail {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// triggerSettings is the environment of the trigger kill tests' servers
// (but for LINKD_ADDR): the catalog calling app, 5 s job leases and ticks
// every triggerPeriod.
func triggerSettings(t *testing.T, app *stepApp, tenv testEnv) map[string]string {
	settings := map[string]string{"LINKD_RATE_LIMIT": "0", "LINKD_LOG_LEVEL": "warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "LINKD_APPS": notesApp(t, app.URL, triggerWorkflows),
		"LINKD_JOB_LEASE": "5s", "LINKD_SCHEDULE_EVERY": triggerPeriod.String()}
	maps.Copy(settings, tenv)
	return settings
}

// scheduleTicks makes n accounts (sc-0…), connects each to the app and
// switches tick on for it.
func scheduleTicks(t *testing.T, a api, n int) {
	t.Helper()
	sched := func(i int) string { return fmt.Sprintf("sc-%d", i) }
	parallel(t, n, func(i int) error {
		h := []string{"linked_account_id", sched(i)}
		for _, c := range [][2]string{
			{"POST", "/api/v2/public/linked-account"},
			{"PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes"},
			{"PUT", "/api/v2/public/config"},
		} {
			body := map[string]string{
				"POST": `{"linked_account_id":"` + sched(i) + `"}`,
				"PUT":  `{"key":"k-1"}`,
			}[c[0]]
			if strings.HasSuffix(c[1], "/config") {
				body = `{"slug":"notes","workflows":[{"id":"tick","enabled":true}]}`
			}
			if _, _, err := a.do(c[0], c[1], body, h...); err != nil {
				return err
			}
		}
		return nil
	})
}

// connectLoad is the trigger kill tests' load: a client makes accounts,
// connects them (a workflow can only be switched on for a connected app),
// switches hello on and connects again (new keys): that connection event
// starts hello. A connect the kill cut off may have committed or not; the
// rows say which. The steps before the counted connect are repeated until
// answered (a connect repeated before hello is on starts nothing); the
// counted one is not, so that each event is one the test knows of. Each
// request goes to the server pick returns.
type connectLoad struct {
	quit      atomic.Bool
	wg        sync.WaitGroup
	seq       atomic.Int64
	mu        sync.Mutex
	connected []string // accounts whose connect was acknowledged
	cut       atomic.Int64
}

func startConnectLoad(t *testing.T, pick func() api) *connectLoad {
	l := &connectLoad{}
	until := func(method, path, body string, h []string) {
		for cut := false; !l.quit.Load(); cut = true {
			s, out, _ := pick().do(method, path, body, h...)
			switch {
			case s == 200:
				return
			case s == 0:
				time.Sleep(50 * time.Millisecond) // the server is down
			case s == 400 && cut && method == "POST" && strings.Contains(fmt.Sprint(out["message"]), "already exists"):
				return // the create the kill cut off had committed
			default:
				t.Errorf("%s %s: %d %v", method, path, s, out)
				return
			}
		}
	}
	l.wg.Go(func() {
		for !l.quit.Load() {
			acct := fmt.Sprintf("cn-%d", l.seq.Add(1))
			h := []string{"linked_account_id", acct}
			until("POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+acct+`"}`, h)
			until("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-0"}`, h)
			until("PUT", "/api/v2/public/config", `{"slug":"notes","workflows":[{"id":"hello","enabled":true}]}`, h)
			if l.quit.Load() {
				return
			}
			switch s, out, _ := pick().do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-1"}`, h...); s {
			case 200:
				l.mu.Lock()
				l.connected = append(l.connected, acct)
				l.mu.Unlock()
			case 0:
				l.cut.Add(1)
				time.Sleep(50 * time.Millisecond)
			default:
				t.Errorf("connect %s: %d %v", acct, s, out)
			}
			time.Sleep(time.Duration(20+rand.IntN(100)) * time.Millisecond)
		}
	})
	return l
}

// stop ends the load and waits for it.
func (l *connectLoad) stop() {
	l.quit.Store(true)
	l.wg.Wait()
}

// triggerRecord is what the trigger kill tests note while they kill, and
// check against the rows and the app's log afterwards.
type triggerRecord struct {
	t         *testing.T
	db        *sql.DB
	pg        bool
	scheduled int       // configs with tick switched on
	setupDone time.Time // the periods before may have run for some configs only
	// lives holds each process's ready and end; several instances' lives
	// overlap.
	lives    [][2]time.Time
	killedAt []time.Time
	// committedBy holds, for each step seen committed after a kill, the
	// first such moment: no call of it may come after.
	committedBy map[string]time.Time
}

func newTriggerRecord(t *testing.T, db *sql.DB, tenv testEnv, scheduled int) *triggerRecord {
	return &triggerRecord{t: t, db: db, pg: tenv["LINKD_DATABASE_URL"] != "", scheduled: scheduled, committedBy: map[string]time.Time{}}
}

// ticks counts the tick schedule's fired periods.
func (r *triggerRecord) ticks() int64 {
	return sqlCount(r.t, r.db, `SELECT count(*) FROM schedule_ticks WHERE name = '`+tickSchedule+`'`)
}

// waitTick polls until the next tick commits (within two periods and the
// fire slack) and returns its owner, "" if none came.
func (r *triggerRecord) waitTick() string {
	n := r.ticks()
	for deadline := time.Now().Add(2*triggerPeriod + triggerFireBy); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if r.ticks() > n {
			for _, owner := range rowsOf(r.t, r.db, `SELECT slot, owner FROM schedule_ticks WHERE name = '`+tickSchedule+`' ORDER BY slot DESC LIMIT 1`) {
				return owner[0]
			}
		}
	}
	return ""
}

// committed notes the steps committed as the rows read now show, as
// committed by at (a kill with no process left, or a moment after the
// read).
func (r *triggerRecord) committed(at func() time.Time) {
	steps := rowsOf(r.t, r.db, `SELECT execution_id || '/' || step_id FROM execution_nodes WHERE status = 'Success'`)
	by := at()
	for k := range steps {
		if _, ok := r.committedBy[k]; !ok {
			r.committedBy[k] = by
		}
	}
}

// unended selects the runs not ended: id, lease owner, account.
const unended = `SELECT id, coalesce(lease_owner, ''), account_id FROM executions WHERE status NOT IN ('COMPLETED', 'ERRORED', 'STOPPED', 'TIMED_OUT')`

// heldByDead counts the runs not ended that a process other than the live
// ones (by pid) holds.
func (r *triggerRecord) heldByDead(live ...int) int {
	n := 0
	for _, owner := range owners(r.t, r.db, unended) {
		if owner != "" && !slices.ContainsFunc(live, func(pid int) bool { return strings.Contains(owner, "-"+strconv.Itoa(pid)+"-") }) {
			n++
		}
	}
	return n
}

// stopWhenEnded stops the servers cleanly (stop, which notes their ends)
// once no run is left, so that the rows read afterwards stay still: the
// schedule goes on firing, and a tick that fired just before the stop
// leaves runs the stop cut short. Then start starts a server again (a life
// like the others), and it is stopped again once it has ended them.
func (r *triggerRecord) stopWhenEnded(stop func(), start func(), logs func() string) {
	t := r.t
	for i := 0; ; i++ {
		for deadline := time.Now().Add(2 * time.Minute); len(owners(t, r.db, unended)) > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("%d runs not ended 2 minutes after the load stopped (status, workflow, lease owner: runs) %v:\n%s", len(owners(t, r.db, unended)),
					pairs(t, r.db, `SELECT status || ' ' || workflow_id || ' ' || coalesce(lease_owner, '-'), count(*) FROM executions
						WHERE status NOT IN ('COMPLETED', 'ERRORED', 'STOPPED', 'TIMED_OUT') GROUP BY 1`), logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		if len(owners(t, r.db, unended)) == 0 {
			return
		}
		if i == 3 {
			t.Fatalf("runs left after %d clean stops", i+1)
		}
		start()
	}
}

// triggerTally is what the checks counted.
type triggerTally struct {
	fired, whole, required, tickRuns, runs, stepCalls, retries, repeats int
	// resumed counts the ticks another process finished (cut off by a
	// kill between two of their batches).
	resumed int
}

// check checks, once no process runs, the ticks, the connection runs and
// every step call (see TestWorkflowTriggersSurviveRepeatedKill9), then
// starts a server (start) and checks the counters against recounts: the
// API's runs per account of the accounts that connected (a server started
// again fires a tick for the others), active workflows, app counts,
// account counts.
func (r *triggerRecord) check(app *stepApp, connected []string, start func() api) triggerTally {
	t, db := r.t, r.db
	var out triggerTally
	micros := func(col string) string { return col }
	payload := func(field string) string { return `json_extract(payload, '$.` + field + `')` }
	if r.pg {
		micros = func(col string) string { return `CAST(extract(epoch FROM ` + col + `) * 1000000 AS BIGINT)` }
		payload = func(field string) string { return `payload->>'` + field + `'` }
	}
	lastEnd := time.Time{}
	for _, l := range r.lives {
		if l[1].After(lastEnd) {
			lastEnd = l[1]
		}
	}

	// Every tick fired ran once for every config; every period a live
	// process saw long enough was fired.
	fired := map[int64]bool{}
	for slot := range rowsOf(t, db, `SELECT `+micros("slot")+` FROM schedule_ticks WHERE name = '`+tickSchedule+`'`) {
		us, _ := strconv.ParseInt(slot, 10, 64)
		fired[us] = true
	}
	tickRuns := rowsOf(t, db, `SELECT id, account_id, `+payload("scheduled_at")+` FROM executions WHERE workflow_id = 'tick'`)
	perSlot := map[int64]map[string]int{}
	for id, r := range tickRuns {
		at, err := time.Parse(time.RFC3339, r[1])
		if err != nil {
			t.Fatalf("run %s: scheduled_at %q: %v", id, r[1], err)
		}
		slot := at.UnixMicro()
		if !fired[slot] {
			t.Errorf("run %s is of the period at %s, whose tick was not fired", id, at.Format(time.TimeOnly))
		}
		if perSlot[slot] == nil {
			perSlot[slot] = map[string]int{}
		}
		perSlot[slot][r[0]]++
	}
	for slot := range fired {
		at := time.UnixMicro(slot)
		runs := perSlot[slot]
		for acct, n := range runs {
			if n != 1 {
				t.Errorf("the tick at %s ran %d times for %s", at.Format(time.TimeOnly), n, acct)
			}
		}
		if at.Before(r.setupDone) {
			continue // configs were still being made
		}
		out.whole++
		if len(runs) != r.scheduled {
			t.Errorf("the tick at %s ran for %d of the %d configs: a fired tick lost runs", at.Format(time.TimeOnly), len(runs), r.scheduled)
		}
	}
	for slot := r.setupDone.Truncate(triggerPeriod); slot.Before(lastEnd); slot = slot.Add(triggerPeriod) {
		var seen [][2]time.Time // the lives that saw it long enough
		for _, l := range r.lives {
			from := slot
			if l[0].After(from) {
				from = l[0]
			}
			if from.Before(slot.Add(triggerPeriod)) && !from.Add(triggerFireBy).After(l[1]) {
				seen = append(seen, l)
			}
		}
		if len(seen) == 0 {
			continue
		}
		out.required++
		if !fired[slot.UnixMicro()] {
			var lives []string
			for _, l := range seen {
				lives = append(lives, l[0].Format(time.StampMilli)+" to "+l[1].Format(time.StampMilli))
			}
			t.Errorf("the period at %s was not fired, though processes lived %s", slot.Format(time.TimeOnly), strings.Join(lives, ", "))
		}
	}
	if out.required == 0 {
		t.Error("no period was required to fire: the test checks nothing of the schedule")
	}
	if a := sqlCount(t, db, `SELECT count(*) FROM audit_log WHERE action = 'workflow.schedule'`); a != int64(len(tickRuns)) {
		t.Errorf("%d scheduled runs in the audit log, %d there", a, len(tickRuns))
	}
	out.fired, out.tickRuns = len(fired), len(tickRuns)
	out.resumed = int(sqlCount(t, db, `SELECT count(*) FROM schedule_ticks WHERE name = '`+tickSchedule+`' AND lease_owner <> owner`))

	// Each connection event started one run: every acknowledged connect
	// has one, and an account's runs of hello are as many as its
	// connection's audit entries after hello was switched on.
	helloRuns := pairs(t, db, `SELECT account_id, count(*) FROM executions WHERE workflow_id = 'hello' GROUP BY account_id`)
	events := pairs(t, db, `SELECT account_id, count(*) FROM audit_log c WHERE action IN ('connection.create', 'connection.update')
		AND account_id LIKE 'cn-%' AND EXISTS (SELECT 1 FROM audit_log o WHERE o.org_id = c.org_id AND o.env = c.env
			AND o.account_id = c.account_id AND o.action LIKE 'config.%' AND o.at < c.at) GROUP BY account_id`)
	for _, acct := range connected {
		if events[acct] != 1 {
			t.Errorf("%s connected once, %d connection events", acct, events[acct])
		}
	}
	for acct, n := range events {
		if helloRuns[acct] != n {
			t.Errorf("%s: %d connection events started %d runs", acct, n, helloRuns[acct])
		}
	}
	for acct, n := range helloRuns {
		if events[acct] == 0 {
			t.Errorf("%s: %d runs of hello and no connection event", acct, n)
		}
	}

	// Every run completed; each (run, step) called under its own key,
	// again only after a 503 (not before half the backoff) or after a
	// kill; never after a kill it was committed before, nor after its
	// commit, nor after its run ended.
	runs := rowsOf(t, db, `SELECT id, workflow_id, status, `+micros("finished_at")+` FROM executions`)
	nodes := rowsOf(t, db, `SELECT execution_id || '/' || step_id, status, `+micros("updated_at")+`, attempts FROM execution_nodes`)
	app.mu.Lock()
	defer app.mu.Unlock()
	for id, run := range runs {
		if run[1] != "COMPLETED" {
			t.Errorf("run %s of %s is %s, want COMPLETED", id, run[0], run[1])
			continue
		}
		us, _ := strconv.ParseInt(run[2], 10, 64)
		ended := time.UnixMicro(us)
		for _, step := range []string{"first", "second"} {
			node, ok := nodes[id+"/"+step]
			if !ok || node[0] != "Success" {
				t.Errorf("run %s completed with step %s %v", id, step, node)
				continue
			}
			us, _ := strconv.ParseInt(node[1], 10, 64)
			committed := time.UnixMicro(us)
			key := "linkd-" + id + "-" + step
			cs := app.calls[key]
			if len(cs) == 0 {
				t.Errorf("run %s step %s is committed but the app never saw it", id, step)
			}
			if a, _ := strconv.Atoi(node[2]); a < 1 || a > len(cs) {
				t.Errorf("run %s step %s: %d attempts made, the app saw %d calls", id, step, a, len(cs))
			}
			out.stepCalls += len(cs)
			for i, c := range cs {
				late := func(what string, at time.Time) {
					t.Errorf("run %s step %s called at %s, after %s at %s", id, step, c.at.Format(time.StampMicro), what, at.Format(time.StampMicro))
				}
				if k, ok := r.committedBy[id+"/"+step]; ok && c.at.After(k) {
					late("the kill it had been committed before: a committed step ran again", k)
				}
				if c.at.After(committed) {
					late("its outcome was committed: a committed step ran again", committed)
				}
				if c.at.After(ended) {
					late("the run ended", ended)
				}
				switch prev := cs[max(i-1, 0)]; {
				case i == 0:
				case prev.failed:
					out.retries++
					if c.at.Sub(prev.at) < 500*time.Millisecond {
						t.Errorf("run %s step %s retried %s after the 503, sooner than half the 1 s backoff", id, step, c.at.Sub(prev.at))
					}
				case slices.ContainsFunc(r.killedAt, func(k time.Time) bool { return prev.at.Before(k) && k.Before(c.at) }):
					out.repeats++
				default:
					t.Errorf("run %s step %s called again at %s with no kill nor failure since the call at %s",
						id, step, c.at.Format(time.StampMicro), prev.at.Format(time.StampMicro))
				}
			}
		}
	}
	for key, cs := range app.calls {
		i := strings.LastIndex(key, "-")
		run, step := strings.TrimPrefix(key[:max(i, 0)], "linkd-"), key[i+1:]
		if _, ok := nodes[run+"/"+step]; !ok {
			t.Errorf("the app was called %d times with key %q, of no step committed", len(cs), key)
		}
	}
	out.runs = len(runs)

	// The counters equal recounts.
	if len(connected) == 0 {
		t.Fatal("no connect was acknowledged")
	}
	perAccount := pairs(t, db, `SELECT account_id, count(*) FROM executions GROUP BY account_id`)
	a := start()
	for _, acct := range []string{connected[0], connected[len(connected)/2], connected[len(connected)-1]} {
		list := a.must(t, "GET", "/api/v2/public/execution?limit=1&status=All", nil, "linked_account_id", acct)
		if list["totalDocs"] != float64(perAccount[acct]) {
			t.Errorf("%s: the API counts %v runs, a recount %d", acct, list["totalDocs"], perAccount[acct])
		}
	}
	checkCounters(t, db)
	return out
}

func testTriggerKills(t *testing.T, bin string, tenv testEnv) {
	start := time.Now()
	kills := 2
	if testLong() {
		kills = 20
	}
	const scheduled = 20 // accounts with the tick switched on
	app := newStepApp(t)
	addr := freeAddr(t)
	base := "http://" + addr
	settings := triggerSettings(t, app, tenv)
	settings["LINKD_ADDR"] = addr
	env := binEnv(settings)
	a := api{base: base, key: newKey(t, tenv, "test")}
	db, settle, settleMax := settledRecount(t, tenv)
	rec := newTriggerRecord(t, db, tenv, scheduled)

	p := startLinkd(t, bin, env, base)
	scheduleTicks(t, a, scheduled)
	rec.setupDone = time.Now()
	rec.lives = [][2]time.Time{{rec.setupDone, {}}}

	// One client is enough: with the 20 scheduled runs every 3 s, its few
	// connections a second keep the tenant's runner (4 runs at once) about
	// half busy on a loaded machine; twice that load outran it on
	// PostgreSQL, and the runs never caught up.
	load := startConnectLoad(t, func() api { return a })

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	cut, afterTick := 0, 0
	for k := range kills {
		if k%2 == 0 {
			time.Sleep(time.Duration(1500+rng.IntN(3000)) * time.Millisecond)
		} else {
			// Right after the next tick commits (polled), plus 0–3 ms.
			if rec.waitTick() != "" {
				afterTick++
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		cut += int(app.inFlight.Load())
		sigkill(t, p)
		now := time.Now()
		rec.killedAt = append(rec.killedAt, now)
		rec.lives[len(rec.lives)-1][1] = now
		settle()
		// The rows read while no process runs are exactly what was
		// committed before the kill.
		rec.committed(func() time.Time { return now })
		p = startLinkd(t, bin, env, base)
		rec.lives = append(rec.lives, [2]time.Time{time.Now(), {}})
	}
	lastKill := rec.killedAt[len(rec.killedAt)-1]

	// The load goes on until no run is held by a dead process (each waits
	// for its 5 s lease) and the last process has seen two more periods.
	stranded := rec.heldByDead(p.cmd.Process.Pid)
	for deadline := time.Now().Add(2 * time.Minute); rec.heldByDead(p.cmd.Process.Pid) > 0 || time.Since(rec.lives[len(rec.lives)-1][0]) < 2*triggerPeriod+triggerFireBy; {
		if time.Now().After(deadline) {
			load.quit.Store(true)
			t.Fatalf("runs still held by dead processes 2 minutes after the last kill:\n%s", p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := time.Since(lastKill)
	load.stop()
	rec.stopWhenEnded(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
		rec.lives[len(rec.lives)-1][1] = time.Now()
	}, func() {
		p = startLinkd(t, bin, env, base)
		rec.lives = append(rec.lives, [2]time.Time{time.Now(), {}})
	}, func() string { return p.logText() })
	settled := time.Since(lastKill)

	n := rec.check(app, load.connected, func() api {
		startLinkd(t, bin, env, base) // killed when the test ends
		return a
	})
	t.Logf("%d kills (%d right after a tick; %d step calls in flight at them); %d periods fired (%d after the setup, each checked for every config; %d cut off mid-way and finished by another process), %d required by the "+
		"processes' lives, %d scheduled runs; %d connects acknowledged, %d cut off, %d connection runs; %d runs, %d step calls, %d retries "+
		"after a 503, %d repeats after a kill; %d runs held by dead processes after the last kill, the load stopped %s after it (all taken over), all ended %s after it; "+
		"a killed process's sessions ended within %s; %s in all",
		kills, afterTick, cut, n.fired, n.whole, n.resumed, n.required, n.tickRuns, len(load.connected), load.cut.Load(), n.runs-n.tickRuns,
		n.runs, n.stepCalls, n.retries, n.repeats, stranded, takeover.Round(100*time.Millisecond), settled.Round(100*time.Millisecond),
		settleMax().Round(time.Millisecond), time.Since(start).Round(time.Second))
}
