package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// TestBulkDeleteSurvivesKill9 runs the real binary, starts a bulk delete
// from the dashboard, and kills the server with SIGKILL again and again
// while the job runs. The dashboard has two selections, each a subtest:
// "filter" deletes every account connected to one app, "picked" the
// accounts picked one by one (every other one of those connected to the
// app, among ids that never existed, were deleted before the user
// confirmed, or are not valid ids; a few more are deleted through the API
// while the job runs). The filter job is killed twice in the short run
// (once while it deletes, once while the restarted server waits for the
// dead one's lease), the picked one once; each 20 times with
// LINKD_TEST_LONG (each after the restarted server has deleted a random
// 1–250 accounts, or, for the at most 1,000 picked ones, 1–47). Nothing is
// deleted while a dead server's lease holds the job, and a restarted
// server takes the job over within a poll of the lease's end (the servers
// run with a short LINKD_JOB_LEASE, bulkJobLease). Afterwards every
// selected account is gone and every other one untouched, each deleted
// exactly once (one audit entry, the job's or the API's), the job's
// progress equals a recount (a picked selection counts the accounts that
// existed when the user confirmed it),
// every counter linkd keeps equals a recount from the rows, and each
// deleted OAuth connection's token was revoked at the provider or is
// queued for it.
func TestBulkDeleteSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, picked := range []bool{false, true} {
		t.Run(map[bool]string{false: "filter", true: "picked"}[picked], func(t *testing.T) {
			for name, env := range engines(t) {
				t.Run(name, func(t *testing.T) { testBulkKill9(t, bin, env, picked) })
			}
		})
	}
}

// bulkJobLease is the job lease the bulk kill test runs with: long enough
// for a batch of deletes and for a restart inside it (the test checks that
// nothing is deleted while it holds), much shorter than the default 30 s
// (which the takeover check would notice). bulkPoll is how often a server
// looks for bulk work nobody woke it for (serve.go).
const (
	bulkJobLease = 5 * time.Second
	bulkPoll     = 2 * time.Second
)

// bulkOthers is how many ids of each kind a picked selection holds that
// are no account when the user confirms it (never made; deleted before),
// and how many of its accounts are deleted through the API while the job
// runs.
const bulkOthers = 5

func testBulkKill9(t *testing.T, bin string, tenv testEnv, picked bool) {
	start := time.Now()
	// The sel-* accounts are connected to notes; the job deletes all of
	// them (filter) or every other one (picked): the doomed.
	kills, selected, kept := 2, 600, 300
	if testLong() {
		kills, selected, kept = 20, 6000, 1000
	}
	maxStep := int64(250) // the most deletes before a kill
	lease := bulkJobLease
	if picked {
		// One kill, for CI's time (the filter run covers the kill while a
		// restarted server waits for a dead one's lease), after 1–135 of
		// the 150 deletes, 30 left at least: before or after the first
		// batch's save (100). Its takeover, most of the short run, waits
		// for the dead server's lease: 2 s here instead of 5 (the filter
		// run checks what the lease holds, with a restart inside it).
		// The long run picks as many as maxSelected (dashboard/bulk.go,
		// 1,000) allows: 960 accounts and 11 other ids, so its 20 kills
		// come after 1–47 deletes each (mean 24) to fit in.
		kills, selected, kept, lease = 1, 300, 100, 2*time.Second
		if testLong() {
			lease = bulkJobLease
			kills, selected, kept = 20, 1920, 1000
		}
	}
	doomed := map[string]bool{}
	var pickedIDs []string // the doomed, in the order the form lists them
	for i := range selected {
		if id := fmt.Sprintf("sel-%05d", i); !picked || i%2 == 0 {
			doomed[id] = true
			pickedIDs = append(pickedIDs, id)
		}
	}
	if picked {
		// Room left for the deletes between the count and the kill, and
		// for the accounts the API deletes meanwhile.
		maxStep = int64((len(doomed) - 3*bulkOthers) / kills)
	}
	prov := newRotatingProvider(t)
	apps := filepath.Join(t.TempDir(), "apps.yaml")
	err := os.WriteFile(apps, []byte(`apps:
  - slug: notes
    name: Notes
    auth_type: keybased
    enabled_by_default: true
    auth_inputs: [{name: key, label: Key, type: password, required: true}]
    workflows:
      - id: tidy
        name: Tidy
        trigger: {event: Note Added}
        steps:
          - id: out
            return: {done: true}
`+prov.appYAML("prov")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_LOG_LEVEL": "warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "LINKD_APPS": apps, "LINKD_JOB_LEASE": lease.String()}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	key, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", "test")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	a := api{base: base, key: strings.TrimSpace(key)}
	p := startLinkd(t, bin, env, base)

	// The accounts: sel-* are connected to notes (the selection), with a
	// config that switches a workflow on; every other one also to prov
	// (OAuth) and every third to stripe. keep-* are connected to stripe,
	// prov or nothing, never to notes.
	var csv strings.Builder
	csv.WriteString("linked_account_id,name\n")
	for i := range selected {
		fmt.Fprintf(&csv, "sel-%05d,Doomed %d\n", i, i)
	}
	for i := range kept {
		fmt.Fprintf(&csv, "keep-%05d,Kept %d\n", i, i)
	}
	if picked {
		for i := range bulkOthers {
			fmt.Fprintf(&csv, "gone-%05d,Gone %d\n", i, i)
		}
	}
	importAccounts(t, a, csv.String())
	a.must(t, "PUT", "/api/v2/public/application/prov/settings", `{"enabled":true,"client_id":"client-1","client_secret":"secret-1"}`)
	a.must(t, "POST", "/api/v2/public/application/event", `{"name":"Note Added"}`)
	oauthToken := map[string]string{} // account → its prov refresh token
	for i := range selected {
		if i%4 < 2 { // doomed and (picked) spared ones
			oauthToken[fmt.Sprintf("sel-%05d", i)] = ""
		}
	}
	for i := range kept {
		if i%2 == 0 {
			oauthToken[fmt.Sprintf("keep-%05d", i)] = ""
		}
	}
	for id := range oauthToken {
		oauthToken[id] = prov.seed(id).refresh
	}
	parallel(t, selected+kept, func(i int) error {
		id, sel := fmt.Sprintf("sel-%05d", i), i < selected
		if !sel {
			id = fmt.Sprintf("keep-%05d", i-selected)
		}
		h := []string{"linked_account_id", id}
		if sel {
			if _, _, err := a.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-`+id+`"}`, h...); err != nil {
				return err
			}
			if _, _, err := a.do("PUT", "/api/v2/public/config", `{"slug":"notes","workflows":[{"id":"tidy","enabled":true}]}`, h...); err != nil {
				return err
			}
		}
		if rt, ok := oauthToken[id]; ok {
			if err := migrateGrant(a, id, "prov", grant{access: "at-" + id, refresh: rt}, 86400); err != nil {
				return err
			}
		}
		if i%3 == 0 {
			if _, _, err := a.do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/stripe?linked_account_id="+id, `{"secret_key":"sk_`+id+`"}`); err != nil {
				return err
			}
		}
		return nil
	})
	db := openRecount(t, tenv)
	checkCounters(t, db)
	if t.Failed() {
		t.Fatal("the counters were wrong before any kill")
	}
	if n := sqlCount(t, db, `SELECT CAST(n AS BIGINT) FROM app_counts WHERE slug = 'notes'`); n != int64(selected) {
		t.Fatalf("%d accounts connected to notes, want %d", n, selected)
	}
	seeded := time.Since(start)

	// The bulk delete, confirmed with the count the dashboard showed. A
	// picked selection lists, among the doomed, ids that are no account
	// when the user confirms (never made, deleted just before, one too
	// long to be an id), which the confirmation does not count, and ends
	// with accounts deleted through the API while the job runs.
	form := url.Values{"all": {"1"}, "app": {"notes"}, "count": {strconv.Itoa(len(doomed))}}
	var meanwhile []string
	if picked {
		ids := slices.Clone(pickedIDs)
		meanwhile = slices.Clone(ids[len(ids)-bulkOthers:])
		others := []string{strings.Repeat("x", linkd.MaxAccountIDBytes+1)}
		for i := range bulkOthers {
			others = append(others, fmt.Sprintf("none-%05d", i), fmt.Sprintf("gone-%05d", i))
			a.must(t, "DELETE", fmt.Sprintf("/api/v2/public/linked-account/gone-%05d", i), nil)
		}
		for _, id := range others {
			k := rand.IntN(len(ids) - bulkOthers + 1)
			ids = slices.Insert(ids, k, id)
		}
		form = url.Values{"id": ids, "count": form["count"]}
	}
	dash := dashboardSession(t, bin, env, base)
	res := postForm(t, dash, base, "/accounts/bulk/delete", form)
	jobID, ok := strings.CutPrefix(res.Header.Get("Location"), "/bulk/")
	if res.StatusCode != http.StatusSeeOther || !ok {
		t.Fatalf("bulk delete: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	var byAPI int // of meanwhile, how many the API deleted (the job the rest)
	for _, id := range meanwhile {
		switch code, _, err := a.do("DELETE", "/api/v2/public/linked-account/"+id, nil); code {
		case http.StatusOK:
			byAPI++
		case http.StatusNotFound:
		default:
			t.Fatalf("delete %s while the job runs: %v", id, err)
		}
	}
	doomedSQL := `account_id LIKE 'sel-%'`
	if picked {
		doomedSQL += ` AND CAST(SUBSTR(account_id, 5) AS INTEGER) % 2 = 0`
	}
	left := func() int64 {
		return sqlCount(t, db, `SELECT count(*) FROM linked_accounts WHERE `+doomedSQL)
	}
	state := func() string {
		var s string
		if err := db.QueryRow(`SELECT state FROM bulk_jobs WHERE id = '` + jobID + `'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// killAfter kills p once it has deleted n more accounts; killedAt
	// holds how many selected accounts were gone at each kill.
	var killedAt []int64
	killAfter := func(p *proc, k int, n int64) {
		t.Helper()
		from := left()
		// Some left for after the kill, more than a slow poll of this
		// loop sees deleted: the picked job may be well into its few
		// accounts before the first count.
		n = min(n, from-30)
		for deadline := time.Now().Add(90 * time.Second); left() > from-n; {
			if st := state(); st != "queued" && st != "running" {
				t.Fatalf("the job ended (%s) before kill %d: too few accounts for %d kills", st, k+1, kills)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no deletes for 90 s (%d left):\n%s", left(), p.logText())
			}
			time.Sleep(2 * time.Millisecond)
		}
		sigkill(t, p)
		killedAt = append(killedAt, int64(len(pickedIDs))-left())
	}
	// leaseEnd is when the job's lease (renewed by every batch's save)
	// runs out, as the database holds it; called right after a kill, it
	// checks that the lease is no longer than the setting.
	leaseEnd := func() time.Time {
		q := `SELECT lease_until FROM bulk_jobs WHERE id = '` + jobID + `'`
		if tenv["LINKD_DATABASE_URL"] != "" {
			q = `SELECT CAST(EXTRACT(EPOCH FROM lease_until) * 1000000 AS BIGINT) FROM bulk_jobs WHERE id = '` + jobID + `'`
		}
		end := time.UnixMicro(sqlCount(t, db, q))
		if rest := time.Until(end); rest > lease {
			t.Fatalf("the dead server's lease holds the job %s more, longer than its LINKD_JOB_LEASE (%s)", rest.Round(time.Millisecond), lease)
		}
		return end
	}
	// takeOver starts a server after a kill and waits for its first
	// delete: none while the dead server's lease holds the job (a second
	// of slack, for the clock's reading), and one within a poll of its
	// end (10 s of slack, for a busy machine under -race: still far
	// short of the 30 s default lease). It returns the server and how
	// long after it was ready it took the job over.
	takeOver := func(k int) (*proc, time.Duration) {
		t.Helper()
		end := leaseEnd()
		p := startLinkd(t, bin, env, base)
		ready, from := time.Now(), left()
		for left() == from {
			if time.Now().After(end.Add(bulkPoll + 10*time.Second)) {
				t.Fatalf("no takeover %s after the dead server's lease ran out (restart %d, lease %s):\n%s",
					time.Since(end).Round(time.Millisecond), k, lease, p.logText())
			}
			time.Sleep(2 * time.Millisecond)
		}
		if early := time.Until(end); early > time.Second {
			t.Fatalf("restart %d deleted an account %s before the dead server's lease ran out", k, early.Round(time.Millisecond))
		}
		return p, time.Since(ready)
	}
	var midWork, inWait int
	var waits []time.Duration
	killAfter(p, 0, 1+rand.Int64N(maxStep))
	midWork++
	for k := 1; k < kills; k++ {
		if !testLong() {
			// While the dead server's lease holds the job, nothing may
			// be deleted: killed at a random moment of the lease's rest.
			end := leaseEnd()
			p = startLinkd(t, bin, env, base)
			before := left()
			hold := time.Until(end) - 500*time.Millisecond
			if hold < 200*time.Millisecond {
				t.Fatalf("the restart took longer than the dead server's lease (%s): make bulkJobLease longer", bulkJobLease)
			}
			time.Sleep(200*time.Millisecond + rand.N(hold-200*time.Millisecond))
			sigkill(t, p)
			if n := left(); n != before {
				t.Fatalf("%d accounts deleted while a dead server's lease held the job", before-n)
			}
			inWait++
			continue
		}
		var wait time.Duration
		p, wait = takeOver(k)
		waits = append(waits, wait)
		killAfter(p, k, 1+rand.Int64N(maxStep))
		midWork++
	}
	p, wait := takeOver(kills)
	waits = append(waits, wait)
	lastFrom, lastStart := left(), time.Now()
	for deadline := time.Now().Add(2 * time.Minute); state() != "succeeded"; {
		if st := state(); st == "failed" || time.Now().After(deadline) {
			t.Fatalf("the job is %s after the last restart:\n%s", st, p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	lastRun := time.Since(lastStart)

	// Every selected account gone, every other one there, each deleted
	// once (by the job or, meanwhile, the API; the gone-* before).
	if n := left(); n != 0 {
		t.Errorf("%d selected accounts survived the job", n)
	}
	have := pairs(t, db, `SELECT account_id, count(*) FROM linked_accounts GROUP BY account_id`)
	for i := range selected + kept {
		id := fmt.Sprintf("sel-%05d", i)
		if i >= selected {
			id = fmt.Sprintf("keep-%05d", i-selected)
		}
		if doomed[id] {
			continue
		}
		if have[id] != 1 {
			t.Errorf("%s: %d rows after the job", id, have[id])
		}
		delete(have, id)
	}
	for id := range have {
		if !doomed[id] {
			t.Errorf("an account nobody made, or one deleted before the job: %s", id)
		}
	}
	audits := pairs(t, db, `SELECT account_id, count(*) FROM audit_log WHERE action = 'linked_account.delete' GROUP BY account_id`)
	if picked {
		for i := range bulkOthers {
			doomed[fmt.Sprintf("gone-%05d", i)] = true // deleted once, before the job
		}
	}
	for id := range doomed {
		if audits[id] != 1 {
			t.Errorf("%s was deleted %d times (audit entries), want once", id, audits[id])
		}
		delete(audits, id)
	}
	for id, n := range audits {
		t.Errorf("%s, not selected, was deleted %d times", id, n)
	}

	// The job's progress equals the recount: the accounts selected when
	// the user confirmed, all done (those the API deleted meanwhile are
	// gone, as asked); the other ids of a picked selection are neither.
	var total, done, failed int64
	if err := db.QueryRow(`SELECT total, done, failed FROM bulk_jobs WHERE id = '`+jobID+`'`).Scan(&total, &done, &failed); err != nil {
		t.Fatal(err)
	}
	if n := int64(len(pickedIDs)); total != n || done != n || failed != 0 {
		t.Errorf("job progress: total %d, done %d, failed %d; a recount: %d deleted of %d, none failed", total, done, failed, n, n)
	}
	checkCounters(t, db)
	spared := selected + kept - len(pickedIDs)
	if list := a.must(t, "GET", "/api/v2/public/linked-account?limit=1", nil); list["totalDocs"] != float64(spared) {
		t.Errorf("totalDocs %v, want %d", list["totalDocs"], spared)
	}

	// Each deleted OAuth connection's refresh token revoked or queued for
	// it, once; no kept one's.
	queued := pairs(t, db, `SELECT account_id, count(*) FROM revocations GROUP BY account_id`)
	prov.mu.Lock()
	revoked := map[string]int{}
	for _, tok := range prov.revoked {
		revoked[tok]++
	}
	prov.mu.Unlock()
	var nRevoked, nQueued int
	for id, tok := range oauthToken {
		sel := doomed[id]
		switch {
		case !sel && (revoked[tok] > 0 || queued[id] > 0):
			t.Errorf("%s is kept but its token was revoked (%d) or queued (%d)", id, revoked[tok], queued[id])
		case sel && queued[id] > 1:
			t.Errorf("%s's token is queued for revocation %d times", id, queued[id])
		case sel && revoked[tok] == 0 && queued[id] == 0:
			t.Errorf("%s was deleted but its token was neither revoked nor queued", id)
		case sel && revoked[tok] > 0:
			nRevoked++
		case sel:
			nQueued++
		}
	}
	how := "all connected to notes"
	if picked {
		how = fmt.Sprintf("picked among %d other ids; %d deleted through the API meanwhile, %d by the job first", 1+2*bulkOthers, byAPI, len(meanwhile)-byAPI)
	}
	t.Logf("%d selected (%s) of %d accounts (seeded in %s); %d kills (%d while deleting, with %v gone; %d while the job waited for a dead lease); "+
		"takeovers after %v (lease %s); the last server deleted the last %d in %s; done %d of %d; %d OAuth tokens revoked, %d still queued; %s in all",
		len(pickedIDs), how, selected+kept, seeded.Round(time.Millisecond), kills, midWork, killedAt, inWait, roundAll(waits), lease, lastFrom, lastRun.Round(100*time.Millisecond),
		done, total, nRevoked, nQueued, time.Since(start).Round(time.Second))
}

// roundAll rounds durations to 100 ms for the log.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Millisecond)
	}
	return out
}
