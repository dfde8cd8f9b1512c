package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers of TestImportSurvivesKill9: the file it imports, its kills (one at
// a row count in the short run, 20 at random moments in the long one) and
// the server's memory during the import.

// importFile is a CSV of n distinct accounts, acct-0000000 onwards, with 5
// repeated ids and 5 invalid rows spread through it, and the record numbers
// of those 10 rows (the header is record 1).
func importFile(n int) ([]byte, map[int]bool) {
	var file bytes.Buffer
	file.Grow(n * 40)
	file.WriteString("linked_account_id,name,udf.plan,udf.seats\n")
	errRows := map[int]bool{}
	row := 1
	for i := range n {
		row++
		fmt.Fprintf(&file, "acct-%07d,Customer %d,pro,%d\n", i, i, i%100)
		if i%(n/5) == n/5-1 {
			row++
			fmt.Fprintf(&file, "acct-%07d,Repeated,pro,1\n", i-10) // a repeat: first row wins
			errRows[row] = true
			row++
			file.WriteString(",no id,pro,1\n") // invalid
			errRows[row] = true
		}
	}
	return file.Bytes(), errRows
}

// killAtRows kills p with SIGKILL once the job has processed at least at of
// its rows rows, and fails if the job ended first.
func killAtRows(t *testing.T, p *proc, mem *memWatch, jobURL, key string, at, rows int) {
	t.Helper()
	var now float64
	for deadline := time.Now().Add(60 * time.Second); ; {
		j := getJSON(t, jobURL, key)
		now = j["rows_processed"].(float64)
		if now >= float64(at) {
			break
		}
		if j["state"] != "running" && j["state"] != "queued" {
			t.Fatalf("the import ended before the kill: %v", j)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %v\n%s", j, p.logText())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mem.sample(p)
	sigkill(t, p)
	if now >= float64(rows) {
		t.Fatalf("the import finished (%v rows) before the kill; the test proves nothing", now)
	}
	t.Logf("killed at %v of %d rows", now, rows)
}

// importKills kills the server running an import at random moments, each
// once a restarted server has taken the job over, and records what each
// process did.
type importKills struct {
	t                       *testing.T
	bin                     string
	env                     []string
	base, jobURL, key       string
	db                      *sql.DB
	jobID                   string
	rows                    int64
	mem                     *memWatch
	segs                    []importSegment
	loadBefore, loadAfter   string
	startedAt, lastKilledAt time.Time
	// finishedAt is when the job was seen finished, set by the caller.
	finishedAt time.Time
	// cutShort counts the kills that came before their delay ran out
	// because the job neared its end (nearEnd).
	cutShort int
	// lastSeen is the most rows processed the API has shown.
	lastSeen float64
	// early describes the extra kills of servers that may not yet have
	// taken the job over (earlyKill).
	early []string
}

// importSegment is one process's share of the import: from its start (or
// the upload) to its kill.
type importSegment struct {
	// takeover is from the process's start (the upload, for the first)
	// until the job was seen past the rows committed before it started.
	takeover time.Duration
	// seen is the first row count seen after the takeover, at seenAt;
	// committed is what the database held after the kill.
	seen, committed int64
	seenAt, killAt  time.Time
	delay           time.Duration
}

// rate is the rows a second the process committed between the first
// progress seen and its kill.
func (s importSegment) rate() float64 {
	d := s.killAt.Sub(s.seenAt).Seconds()
	if d <= 0 || s.committed <= s.seen {
		return 0
	}
	return float64(s.committed-s.seen) / d
}

// run kills p, which runs the job uploaded at uploaded, and its successors,
// kills times, and returns the process started after the last kill once it
// has taken the job over.
//
// Each kill comes a random time after the takeover, not at a row count, so
// it lands anywhere in a batch's cycle: while the next batch is parsed,
// inside its transaction, or during its commit. The delay is drawn around an
// even share of the time the rest of the file should take (at the fastest
// rate seen so far), so the 20 kills spread over the whole file and the last
// still comes before its end. Every fifth kill is preceded by an extra one
// of a server that may not have taken the job over yet (earlyKill).
func (k *importKills) run(p *proc, uploaded time.Time, kills int) *proc {
	t := k.t
	k.loadBefore, k.startedAt = loadAvg(), uploaded
	var committed int64
	started := uploaded
	for i := 0; ; i++ {
		if i%5 == 4 {
			committed = k.earlyKill(committed)
		}
		if i > 0 {
			started = time.Now()
			p = startLinkd(t, k.bin, k.env, k.base)
		}
		seg := importSegment{}
		seg.seen, seg.seenAt = k.waitPast(p, committed)
		seg.takeover = seg.seenAt.Sub(started)
		if i == kills {
			k.segs = append(k.segs, seg)
			return p
		}
		// The first delay rests on a guess of 10,000 rows/s; later ones on
		// the fastest segment measured, never slower than the guess, so
		// that the delays err short rather than outlast the file.
		fastest := 10_000.0
		for _, s := range k.segs {
			fastest = max(fastest, s.rate())
		}
		share := float64(k.rows-seg.seen) / fastest / float64(kills-i+1)
		seg.delay = time.Duration((0.2 + 1.3*rand.Float64()) * share * float64(time.Second))
		for until := time.Now().Add(seg.delay); time.Now().Before(until); {
			j := k.job()
			if j["state"] != "running" {
				t.Fatalf("the import ended before kill %d of %d: %v", i+1, kills, j)
			}
			if k.nearEnd(j) {
				k.cutShort++
				break
			}
			k.mem.sample(p)
			time.Sleep(min(50*time.Millisecond, time.Until(until)))
		}
		k.mem.sample(p)
		sigkill(t, p)
		seg.killAt = time.Now()
		k.lastKilledAt = seg.killAt
		committed = recountImport(t, k.db, k.jobID)
		seg.committed = committed
		k.segs = append(k.segs, seg)
		if committed >= k.rows {
			t.Fatalf("the import finished before kill %d; the test proves nothing", i+1)
		}
	}
}

// earlyKill starts a server and kills it a random 0–2 s after it is ready,
// whether or not it has taken the job over: it may die before its claim,
// just after it (holding a lease it will never renew) or inside its first
// batch. These come on top of the kills counted in run; every fifth kill
// is preceded by one. It returns the rows committed after the kill.
func (k *importKills) earlyKill(committed int64) int64 {
	t := k.t
	p := startLinkd(t, k.bin, k.env, k.base)
	delay := time.Duration(rand.Int64N(int64(2 * time.Second)))
	for until := time.Now().Add(delay); time.Now().Before(until); {
		if k.nearEnd(k.job()) {
			break
		}
		k.mem.sample(p)
		time.Sleep(min(50*time.Millisecond, time.Until(until)))
	}
	sigkill(t, p)
	now := recountImport(t, k.db, k.jobID)
	if now >= k.rows {
		t.Fatalf("the import finished before an early kill; the test proves nothing")
	}
	k.early = append(k.early, fmt.Sprintf("%v after ready, +%d rows", delay.Round(time.Millisecond), now-committed))
	return now
}

// nearEnd reports whether the job j is within the last 5 % of its rows:
// a kill waits no longer then, so that a server faster than any before it
// cannot finish the file before the kills are done. The delays make this
// rare; it keeps the test from failing on a burst of speed.
func (k *importKills) nearEnd(j map[string]any) bool {
	return k.rows-int64(j["rows_processed"].(float64)) < k.rows/20
}

// recountImport checks, with no server running, that the job's committed
// progress equals a recount of what it wrote: each batch commits its
// accounts, its row errors and the job's counters together, so a kill at
// any moment leaves all of them at the same batch. The tenant's account
// count must equal the accounts there are. It returns the rows processed.
func recountImport(t *testing.T, db *sql.DB, jobID string) int64 {
	t.Helper()
	var processed, created, updated, unchanged, failed int64
	if err := db.QueryRow(`SELECT rows_processed, created, updated, unchanged, failed FROM import_jobs WHERE id = '`+jobID+`'`).
		Scan(&processed, &created, &updated, &unchanged, &failed); err != nil {
		t.Fatal(err)
	}
	accounts := sqlCount(t, db, `SELECT count(*) FROM linked_accounts WHERE import_job = '`+jobID+`'`)
	errs := sqlCount(t, db, `SELECT count(*) FROM import_errors WHERE job_id = '`+jobID+`'`)
	if created+updated+unchanged != accounts || failed != errs || processed != accounts+errs {
		t.Errorf("after a kill the job counts %d rows processed, %d created, %d updated, %d unchanged, %d failed; a recount finds %d accounts of the job and %d row errors",
			processed, created, updated, unchanged, failed, accounts, errs)
	}
	kept := sqlCount(t, db, `SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM account_counts`)
	if all := sqlCount(t, db, `SELECT count(*) FROM linked_accounts`); kept != all {
		t.Errorf("after a kill account_counts sum to %d, a recount of linked_accounts %d", kept, all)
	}
	return processed
}

// job reads the job through the API and checks that its progress has not
// moved back, whichever server answers: a takeover resumes from the last
// committed batch and never starts that count over.
func (k *importKills) job() map[string]any {
	t := k.t
	t.Helper()
	j := getJSON(t, k.jobURL, k.key)
	now := j["rows_processed"].(float64)
	if now < k.lastSeen {
		t.Errorf("the job's progress went back from %v to %v rows", k.lastSeen, now)
	}
	if want := now / float64(k.rows); j["state"] == "running" && j["progress"] != want {
		t.Errorf("the job shows progress %v at %v of %d rows", j["progress"], now, k.rows)
	}
	k.lastSeen = max(k.lastSeen, now)
	return j
}

// waitPast polls the job until its row count passes committed: the process
// has taken the job over and committed a batch of its own.
func (k *importKills) waitPast(p *proc, committed int64) (int64, time.Time) {
	t := k.t
	for deadline := time.Now().Add(60 * time.Second); ; {
		j := k.job()
		if now := int64(j["rows_processed"].(float64)); now > committed {
			return now, time.Now()
		}
		if j["state"] != "running" && j["state"] != "queued" {
			t.Fatalf("the import ended at %d rows without moving on: %v", committed, j)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no takeover past %d rows: %v\n%s", committed, j, p.logText())
		}
		k.mem.sample(p)
		time.Sleep(10 * time.Millisecond)
	}
}

// report logs each kill and the summary figures.
func (k *importKills) report() {
	t := k.t
	k.loadAfter = loadAvg()
	var takeovers []time.Duration
	var rates []float64
	var at []string
	for i, s := range k.segs {
		if i > 0 {
			takeovers = append(takeovers, s.takeover)
		}
		if !s.killAt.IsZero() {
			rates = append(rates, s.rate())
			at = append(at, strconv.FormatInt(s.committed, 10))
			t.Logf("server %2d: took over in %v, killed %v later (%v after the takeover was seen) with %d rows committed, %.0f rows/s",
				i+1, s.takeover.Round(time.Millisecond), s.killAt.Sub(s.seenAt).Round(time.Millisecond), s.delay.Round(time.Millisecond), s.committed, s.rate())
		}
	}
	if last := k.segs[len(k.segs)-1]; !k.finishedAt.IsZero() && last.killAt.IsZero() {
		t.Logf("server %2d: took over in %v, finished the last %d rows at %.0f rows/s",
			len(k.segs), last.takeover.Round(time.Millisecond), k.rows-last.seen, float64(k.rows-last.seen)/k.finishedAt.Sub(last.seenAt).Seconds())
	}
	if len(k.early) > 0 {
		t.Logf("%d early kills: %s", len(k.early), strings.Join(k.early, "; "))
	}
	if k.cutShort > 0 {
		t.Logf("%d kills came early: the job neared its end", k.cutShort)
	}
	slices.Sort(takeovers)
	slices.Sort(rates)
	if len(takeovers) == 0 || len(rates) == 0 {
		return
	}
	t.Logf("%d kills at %s of %d rows; rows/s between kills %.0f–%.0f (median %.0f); takeovers %v–%v (median %v); kill phase %v; load %s → %s",
		len(rates), strings.Join(at, ", "), k.rows, rates[0], rates[len(rates)-1], rates[len(rates)/2],
		takeovers[0].Round(time.Millisecond), takeovers[len(takeovers)-1].Round(time.Millisecond), takeovers[len(takeovers)/2].Round(time.Millisecond),
		k.lastKilledAt.Sub(k.startedAt).Round(time.Second), k.loadBefore, k.loadAfter)
}

// loadAvg is the machine's load average (1, 5 and 15 minutes), for the log.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// memWatch follows the memory of the servers running an import: their
// resident set against the first server's when idle. VmHWM is the kernel's
// own peak of each process's RSS, so nothing between samples is missed;
// RssAnon (sampled) leaves out file pages, such as SQLite's memory-mapped
// database, which the kernel can drop at will.
type memWatch struct {
	t                  *testing.T
	baseRSS, baseAnon  int64 // KiB, the first server idle
	peakHWM, peakAnon  int64 // KiB, the most seen in any server
	pids               map[int]bool
	samples, processes int
	// perProc is each process's peak RSS (VmHWM) growth in MiB, in the
	// order they ran: which part of the import costs what.
	perProc []int64
}

func newMemWatch(t *testing.T, p *proc) *memWatch {
	st := procStatus(t, p.cmd.Process.Pid)
	m := &memWatch{t: t, baseRSS: st["VmRSS"], baseAnon: st["RssAnon"], pids: map[int]bool{}}
	m.sample(p)
	return m
}

// sample reads p's peak RSS and current anonymous RSS.
func (m *memWatch) sample(p *proc) {
	pid := p.cmd.Process.Pid
	st := procStatus(m.t, pid)
	m.peakHWM = max(m.peakHWM, st["VmHWM"])
	m.peakAnon = max(m.peakAnon, st["RssAnon"])
	m.samples++
	if !m.pids[pid] {
		m.pids[pid] = true
		m.processes++
		m.perProc = append(m.perProc, 0)
	}
	m.perProc[len(m.perProc)-1] = (st["VmHWM"] - m.baseRSS) >> 10
}

// growth is the largest peak RSS (VmHWM) and anonymous RSS seen, less the
// idle server's, in bytes.
func (m *memWatch) growth() (rss, anon int64) {
	return (m.peakHWM - m.baseRSS) << 10, (m.peakAnon - m.baseAnon) << 10
}

// check fails the test if the import grew a server's peak RSS past the
// issue's bound: 100 MiB (issue 16), whatever the size of the file, which
// is streamed in chunks and committed in batches. On SQLite the writer's
// page cache (32 MiB of pages, 64 MiB in modernc's allocator) fills during
// an import and counts; serve's soft limit on the Go heap (48 MiB) keeps
// the rest under it: without the limit SQLite grew +137–141 MiB.
func (m *memWatch) check(t *testing.T) {
	t.Helper()
	const limit = int64(100 << 20)
	if rss, anon := m.growth(); rss > limit || anon > limit {
		t.Errorf("the import grew the server's memory past %d MiB: %s", limit>>20, m)
	}
}

func (m *memWatch) String() string {
	rss, anon := m.growth()
	return fmt.Sprintf("server memory: idle RSS %d MiB (anonymous %d MiB); over %d processes peak RSS (VmHWM) %d MiB, +%d MiB; anonymous RSS (%d samples) peak %d MiB, +%d MiB; peak RSS growth per process (MiB) %v",
		m.baseRSS>>10, m.baseAnon>>10, m.processes, m.peakHWM>>10, rss>>20, m.samples, m.peakAnon>>10, anon>>20, m.perProc)
}

// procStatus reads the memory lines of /proc/PID/status, in KiB.
func procStatus(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("memory of the server: %v", err)
	}
	out := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status: %q", pid, l)
			}
			out[k] = n
		}
	}
	for _, k := range []string{"VmRSS", "VmHWM", "RssAnon"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out
}
