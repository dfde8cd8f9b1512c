package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReliabilityInstancesKilledTogether runs three linkd binaries on one
// PostgreSQL database, all running the scheduler, while the tick workflow
// falls due every 3 s for 20 configs, accounts connect the app through any
// live instance (each connection starts a workflow) and CSV imports run
// one after another. It kills instances with SIGKILL in rounds, one, two
// or all three at once, and starts them again: 2 rounds in the short run
// (two instances, then all three), 20 with LINKD_TEST_LONG (each size in
// turn). Every other round comes at a random moment, the others right
// after a tick is seen committed, and then the instance that fired it is
// among those killed.
//
// Afterwards, the checks of TestWorkflowTriggersSurviveRepeatedKill9 over
// the three instances' lives: each fired tick ran once for every config
// (none lost, none twice); every period some live instance saw for long
// enough was fired; each connection event started one run; every run
// completed; no committed step was sent again, and a step was sent again
// only after a 503 or a kill; the counters equal recounts. And every
// import acknowledged succeeded with each of its rows made once, its
// progress equal to a recount of its accounts.
func TestReliabilityInstancesKilledTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three binaries")
	}
	tenv, ok := engines(t)["postgres"]
	if !ok {
		t.Skip("needs LINKD_TEST_POSTGRES_URL")
	}
	begin := time.Now()
	rounds := 2
	if testLong() {
		rounds = 20
	}
	const (
		n          = 3    // instances
		scheduled  = 20   // accounts with the tick switched on
		importRows = 3000 // rows of each import file
	)
	bin := buildBinary(t)
	app := newStepApp(t)
	settings := triggerSettings(t, app, tenv)
	settings["LINKD_IMPORT_LEASE"] = "2s"
	key := newKey(t, tenv, "test")
	base := make([]string, n)
	envs := make([][]string, n)
	names := make([]string, n) // each instance's sessions' application_name
	for i := range n {
		addr := freeAddr(t)
		base[i] = "http://" + addr
		names[i] = fmt.Sprintf("linkd-%d", i)
		s := maps.Clone(settings)
		s["LINKD_ADDR"] = addr
		maps.Copy(s, withAppName(t, tenv, names[i]))
		envs[i] = binEnv(s)
	}
	db, settle, settleMax := settledRecount(t, tenv)
	rec := newTriggerRecord(t, db, tenv, scheduled)

	// procs and up are read by the load (pick) while the kills change
	// them; life is each instance's current entry in rec.lives.
	var (
		pmu   sync.Mutex
		procs = make([]*proc, n)
		all   []*proc // every process started, for their logs
		// readyAt is when each process (by pid) was ready.
		readyAt = map[int]time.Time{}
		up      = make([]bool, n)
		life    = make([]int, n)
	)
	// start starts the instances given, together, and notes each one's
	// life from when it is ready.
	start := func(which ...int) {
		ps := make([]*proc, len(which))
		for j, i := range which {
			ps[j] = spawnLinkd(t, bin, envs[i])
		}
		for j, i := range which {
			waitReady(t, ps[j], base[i])
			pmu.Lock()
			all = append(all, ps[j])
			readyAt[ps[j].cmd.Process.Pid] = time.Now()
			procs[i], up[i] = ps[j], true
			life[i] = len(rec.lives)
			rec.lives = append(rec.lives, [2]time.Time{time.Now(), {}})
			pmu.Unlock()
		}
	}
	// pick is a live instance at random (any, when none is: the request
	// fails and is tried again).
	pick := func() api {
		pmu.Lock()
		defer pmu.Unlock()
		var live []int
		for i := range n {
			if up[i] {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return api{base: base[rand.IntN(n)], key: key}
		}
		return api{base: base[live[rand.IntN(len(live))]], key: key}
	}
	livePids := func() []int {
		pmu.Lock()
		defer pmu.Unlock()
		var pids []int
		for i := range n {
			if up[i] {
				pids = append(pids, procs[i].cmd.Process.Pid)
			}
		}
		return pids
	}
	logs := func() string {
		pmu.Lock()
		defer pmu.Unlock()
		var b strings.Builder
		for i, p := range procs {
			fmt.Fprintf(&b, "--- instance %d:\n%s", i, p.logText())
		}
		return b.String()
	}

	start(0, 1, 2)
	scheduleTicks(t, pick(), scheduled)
	rec.setupDone = time.Now()
	for i := range n {
		rec.lives[life[i]][0] = rec.setupDone
	}
	// The load: one client connecting accounts (the trigger kill test's),
	// spread over the live instances, and imports of importRows rows one
	// after another, each uploaded to a live instance. An upload the kill
	// cut off may have left a job (then purged unfinished, or queued).
	load := startConnectLoad(t, pick)
	var (
		jobs      []string // imports acknowledged
		cutUpload atomic.Int64
	)
	load.wg.Go(func() {
		for j := 0; !load.quit.Load(); j++ {
			var file strings.Builder
			file.WriteString("linked_account_id,name\n")
			for r := range importRows {
				fmt.Fprintf(&file, "imp-%d-%05d,Imported\n", j, r)
			}
			s, job, _ := pick().do("POST", "/api/v2/public/linked-account/import?filename=i.csv", file.String(), "Content-Type", "text/csv")
			switch s {
			case 202:
				jobs = append(jobs, job["_id"].(string))
			case 0:
				cutUpload.Add(1)
				time.Sleep(50 * time.Millisecond)
				continue
			default:
				t.Errorf("upload import %d: %d %v", j, s, job)
				return
			}
			// The next one once this one ended (a job a killed instance held
			// waits for its 2 s lease), then a pause.
			for !load.quit.Load() {
				s, got, _ := pick().do("GET", "/api/v2/public/linked-account/import/"+jobs[len(jobs)-1], nil)
				if s == 200 && got["state"] != "queued" && got["state"] != "running" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(time.Second)
		}
	})

	// Kill rounds: sizes 2, 3, 1, 2, 3, 1…; every other round right after a
	// tick commits, with the instance that fired it among those killed.
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 23))
	cut, afterTick, killed := 0, 0, 0
	var sizes []int
	for k := range rounds {
		size := 1 + (k+1)%n
		order := rng.Perm(n)
		if k%2 == 0 {
			time.Sleep(time.Duration(1500+rng.IntN(3000)) * time.Millisecond)
		} else if owner := rec.waitTick(); owner != "" {
			// Right after the next tick commits (polled), plus 0–3 ms.
			afterTick++
			pmu.Lock()
			for i := range n {
				if strings.Contains(owner, "-"+strconv.Itoa(procs[i].cmd.Process.Pid)+"-") {
					order = append([]int{i}, slices.DeleteFunc(order, func(j int) bool { return j == i })...)
				}
			}
			pmu.Unlock()
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		victims := order[:size]
		cut += int(app.inFlight.Load())
		pmu.Lock()
		ps := make([]*proc, size)
		for j, i := range victims {
			ps[j], up[i] = procs[i], false
		}
		pmu.Unlock()
		sigkill(t, ps...)
		now := time.Now()
		rec.killedAt = append(rec.killedAt, now)
		var dead []string
		pmu.Lock()
		for _, i := range victims {
			rec.lives[life[i]][1] = now
			dead = append(dead, names[i])
		}
		pmu.Unlock()
		settle(dead...)
		// With no instance left, the rows read are exactly what was
		// committed before the kill; with some alive, what was committed
		// before the read ended.
		rec.committed(func() time.Time {
			if size == n {
				return now
			}
			return time.Now()
		})
		killed += size
		sizes = append(sizes, size)
		start(victims...)
		t.Logf("round %d: instances %v killed at %s, ready again at %s", k+1, victims, now.Format(time.StampMilli), time.Now().Format(time.StampMilli))
	}
	lastKill := rec.killedAt[len(rec.killedAt)-1]

	// The load goes on until no run is held by a dead instance (each waits
	// for its 5 s lease) and the last started has seen two more periods.
	stranded := rec.heldByDead(livePids()...)
	for deadline := time.Now().Add(2 * time.Minute); rec.heldByDead(livePids()...) > 0 || time.Since(rec.lives[len(rec.lives)-1][0]) < 2*triggerPeriod+triggerFireBy; {
		if time.Now().After(deadline) {
			load.quit.Store(true)
			t.Fatalf("runs still held by dead instances 2 minutes after the last kill:\n%s", logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	takeover := time.Since(lastKill)
	load.stop()
	for deadline := time.Now().Add(2 * time.Minute); sqlCount(t, db, `SELECT count(*) FROM import_jobs WHERE state IN ('queued', 'running')`) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("imports unfinished 2 minutes after the load stopped:\n%s", logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.stopWhenEnded(func() {
		pmu.Lock()
		defer pmu.Unlock()
		for i := range n {
			if up[i] {
				procs[i].cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for i := range n {
			if up[i] {
				procs[i].cmd.Wait()
				up[i] = false
				rec.lives[life[i]][1] = time.Now()
			}
		}
	}, func() { start(0) }, logs)
	settled := time.Since(lastKill)

	tally := rec.check(app, load.connected, func() api {
		start(0) // killed when the test ends
		return api{base: base[0], key: key}
	})

	// Every acknowledged import succeeded with each row made once, and
	// its counts equal a recount; an upload cut off left no job, or one
	// not yet queued (purged later), or one that ran like the others.
	state := rowsOf(t, db, `SELECT id, state, rows_total, rows_processed, created, failed FROM import_jobs`)
	for _, id := range jobs {
		if _, ok := state[id]; !ok {
			t.Errorf("import %s was acknowledged and is not there", id)
		}
	}
	defer func() {
		if !t.Failed() {
			return
		}
		for _, p := range all {
			for _, line := range strings.Split(p.logText(), "\n") {
				if !strings.Contains(line, "level=WARN") && strings.TrimSpace(line) != "" {
					t.Logf("pid %d: %s", p.cmd.Process.Pid, line)
				}
			}
		}
	}()
	rows, abandoned := 0, 0
	for id, j := range state {
		if j[0] == "uploading" && !slices.Contains(jobs, id) {
			abandoned++
			continue
		}
		want := strconv.Itoa(importRows)
		if j[0] != "succeeded" || j[1] != want || j[2] != want || j[3] != want || j[4] != "0" {
			t.Errorf("import %s: state %s, %s rows, %s processed, %s created, %s failed; want succeeded with %d rows created", id, j[0], j[1], j[2], j[3], j[4], importRows)
		}
		recountImport(t, db, id)
		rows += importRows
	}
	if len(jobs) == 0 {
		t.Error("no import was acknowledged")
	}
	if got := sqlCount(t, db, `SELECT count(*) FROM linked_accounts WHERE account_id LIKE 'imp-%'`); got != int64(rows) {
		t.Errorf("%d imported accounts, want %d (%d rows in each of %d imports)", got, rows, importRows, rows/importRows)
	}

	// How late each tick's claim began (fired_at is its transaction's
	// start) after its period's start or, when later, its instance's
	// being ready: the margin left of triggerFireBy.
	var lag time.Duration
	for slot, tk := range rowsOf(t, db, `SELECT CAST(extract(epoch FROM slot) * 1000000 AS BIGINT), CAST(extract(epoch FROM fired_at) * 1000000 AS BIGINT), owner
		FROM schedule_ticks WHERE name = '`+tickSchedule+`'`) {
		us, _ := strconv.ParseInt(slot, 10, 64)
		from := time.UnixMicro(us)
		for pid, at := range readyAt {
			if strings.Contains(tk[1], "-"+strconv.Itoa(pid)+"-") && at.After(from) {
				from = at
			}
		}
		us, _ = strconv.ParseInt(tk[0], 10, 64)
		lag = max(lag, time.UnixMicro(us).Sub(from))
	}
	t.Logf("%d rounds of %v instances killed (%d kills; %d rounds right after a tick, its instance killed; %d step calls in flight at them); %d periods fired (%d after the setup, "+
		"each checked for every config), %d required by the instances' lives, %d scheduled runs; %d connects acknowledged, %d cut off, %d connection runs; "+
		"%d runs, %d step calls, %d retries after a 503, %d repeats after a kill; %d imports of %d rows acknowledged, %d uploads refused or cut off (%d left unfinished); "+
		"each tick claimed within %s of its period's start or its instance's; %d runs held by dead instances after the last kill, the load stopped %s after it (all taken over), all ended %s after it; "+
		"a killed instance's sessions ended within %s; %s in all",
		rounds, sizes, killed, afterTick, cut, tally.fired, tally.whole, tally.required, tally.tickRuns, len(load.connected), load.cut.Load(),
		tally.runs-tally.tickRuns, tally.runs, tally.stepCalls, tally.retries, tally.repeats, len(jobs), importRows, cutUpload.Load(), abandoned,
		lag.Round(time.Millisecond), stranded, takeover.Round(100*time.Millisecond), settled.Round(100*time.Millisecond), settleMax().Round(time.Millisecond),
		time.Since(begin).Round(time.Second))
}
