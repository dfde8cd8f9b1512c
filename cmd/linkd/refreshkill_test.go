package main

import (
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/connect"
)

// TestRefreshSurvivesKill9 runs the real binary with many OAuth connections
// whose tokens are due, against a provider that rotates refresh tokens, and
// kills the server with SIGKILL at random moments while the background
// refresher works through them (2 kills; 20 with LINKD_TEST_LONG), starting
// it again each time. No refresh token may be presented twice except in the
// window docs/RELIABILITY.md describes (the process killed after the
// provider answered and before linkd committed the new token): such a token
// is presented again by a later process only, refused with invalid_grant,
// and the connection ends expired with the reason, never silently reusing a
// token. Every other connection ends holding the provider's latest grant.
//
// A connection being refreshed when its process died stays leased for the
// refresh lease: the servers run with the shortest (refreshKillLease, 10 s;
// the default is 2 minutes), so that both runs wait it out and check every
// connection, those a dead process held included.
func TestRefreshSurvivesKill9(t *testing.T) {
	onEachEngine(t, testRefreshKill9)
}

// refreshKillLease is the refresh lease the refresh kill test runs with.
const refreshKillLease = connect.MinRefreshLease

func testRefreshKill9(t *testing.T, bin string, tenv testEnv) {
	start := time.Now()
	kills, conns := 2, 150
	if testLong() {
		kills, conns = 20, 800
	}
	prov := newRotatingProvider(t)
	apps := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(apps, []byte("apps:\n"+prov.appYAML("prov")), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_LOG_LEVEL": "warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8", "LINKD_APPS": apps, "LINKD_REFRESH_AHEAD": "2m",
		"LINKD_REFRESH_LEASE": refreshKillLease.String()}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	key, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", "test")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	a := api{base: base, key: strings.TrimSpace(key)}

	// Connections whose access tokens expire within the refresh-ahead
	// window (100 s, against 2 minutes): all due at once, for the
	// processes below. The one that makes them must not refresh them
	// itself, so it counts them due only 30 s before they expire and runs
	// with the default lease (its refresher polls every 30 s, not every
	// 5): on a loaded machine, where seeding took more than 5 s, it had
	// refreshed them all (3,600 s tokens), and the first process below
	// found none due for a minute.
	seedSettings := maps.Clone(settings)
	delete(seedSettings, "LINKD_REFRESH_LEASE")
	seedSettings["LINKD_REFRESH_AHEAD"] = "30s"
	p := startLinkd(t, bin, binEnv(seedSettings), base)
	var csv strings.Builder
	csv.WriteString("linked_account_id,name\n")
	ids := make([]string, conns)
	for i := range conns {
		ids[i] = fmt.Sprintf("c-%04d", i)
		fmt.Fprintf(&csv, "%s,Customer %d\n", ids[i], i)
	}
	importAccounts(t, a, csv.String())
	a.must(t, "PUT", "/api/v2/public/application/prov/settings", `{"enabled":true,"client_id":"client-1","client_secret":"secret-1"}`)
	parallel(t, conns, func(i int) error { return migrateGrant(a, ids[i], "prov", prov.seed(ids[i]), 100) })
	// A clean stop: the next start's refresher takes the due tokens at once.
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	seeded := time.Since(start)

	var gens []string // per process: its first refresh, and its stop, after it was ready
	// kills SIGKILLs, then one SIGTERM: a clean stop, which must not
	// lose a grant, while refreshes run.
	graceful := int32(kills + 1)
	for k := range kills + 1 {
		prov.gen.Store(int32(k + 1))
		from := prov.presentations()
		p = startLinkd(t, bin, env, base)
		// Killed once the provider has seen a random number of refreshes
		// from this process, and a random 0–20 ms more.
		after := 1 + rand.IntN(30)
		ready, first := time.Now(), time.Duration(0)
		for deadline := time.Now().Add(60 * time.Second); prov.presentations()-from < after; {
			if time.Now().After(deadline) {
				t.Fatalf("process %d: %d refreshes in 60 s, waiting for %d:\n%s", k+1, prov.presentations()-from, after, p.logText())
			}
			if first == 0 && prov.presentations() > from {
				first = time.Since(ready)
			}
			time.Sleep(time.Millisecond)
		}
		gens = append(gens, fmt.Sprintf("%v/%v", first.Round(10*time.Millisecond), time.Since(ready).Round(10*time.Millisecond)))
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
		if int32(k+1) == graceful {
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("SIGTERM: %v\n%s", err, p.logText())
			}
		} else {
			sigkill(t, p)
		}
		time.Sleep(50 * time.Millisecond) // requests it sent are all in
	}
	prov.gen.Store(graceful + 1)
	p = startLinkd(t, bin, env, base)
	killed := time.Now()

	// Settled: expired, or holding an hour-long token; a connection leased
	// by a dead process once its lease ran out (within the wait, which a
	// 2-minute lease would not be).
	db := openRecount(t, tenv)
	fresh := `CAST(strftime('%s', 'now') AS INTEGER) * 1000000 + 1800000000`
	if tenv["LINKD_DATABASE_URL"] != "" {
		fresh = `now() + interval '30 minutes'`
	}
	unsettled := `SELECT l.account_id, coalesce(c.refresh_lease_owner, '') FROM connections c JOIN linked_accounts l
		ON l.org_id = c.org_id AND l.env = c.env AND l.id = c.account_pk
		WHERE c.slug = 'prov' AND NOT (c.status = 'expired' OR (c.status = 'active' AND c.token_expires_at > ` + fresh + `))`
	wait := 30 * time.Second
	if testLong() {
		wait = 4 * time.Minute
	}
	for deadline := time.Now().Add(wait); ; {
		left := owners(t, db, unsettled)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections neither refreshed nor expired %s after the last kill: %v\n%s", len(left), wait, left, p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	settledIn := time.Since(killed)

	// Every presentation, placed: a token is presented at most once per
	// process, a second time only by a later one after the first was
	// granted (the window), and then refused.
	prov.mu.Lock()
	byToken := map[string][]presentation{}
	for _, pr := range prov.presented {
		byToken[pr.token] = append(byToken[pr.token], pr)
	}
	latest := map[string]grant{}
	for c, g := range prov.latest {
		latest[c] = g
	}
	total := len(prov.presented)
	prov.mu.Unlock()
	windows := map[string]bool{} // chains that hit the window
	refused := map[string]bool{} // chains with a refused presentation
	for tok, prs := range byToken {
		for i, pr := range prs {
			if !pr.granted {
				refused[pr.chain] = true
			}
			if i == 0 {
				continue
			}
			if pr.granted {
				t.Errorf("%s was granted twice", tok)
			}
			if pr.gen <= prs[i-1].gen {
				t.Errorf("%s presented twice by process %d: a silent reuse, not a kill's window", tok, pr.gen)
			}
			windows[pr.chain] = true
		}
		if !prs[0].granted {
			t.Errorf("%s was refused the first time it was presented", tok)
		}
	}

	// Each connection: expired with invalid_grant where a token was
	// refused; otherwise holding the provider's latest grant.
	status := rowsOf(t, db, `SELECT l.account_id, c.status, c.last_refresh_error FROM connections c JOIN linked_accounts l
		ON l.org_id = c.org_id AND l.env = c.env AND l.id = c.account_pk WHERE c.slug = 'prov'`)
	if len(status) != conns {
		t.Fatalf("%d prov connections, want %d", len(status), conns)
	}
	granted := map[string]bool{} // chains with a grant
	for _, prs := range byToken {
		if prs[0].granted {
			granted[prs[0].chain] = true
		}
	}
	var expired, current int
	for _, id := range ids {
		st := status[id]
		switch {
		case refused[id]:
			if st[0] != "expired" || !strings.Contains(st[1], "invalid_grant") {
				t.Errorf("%s: a spent token was refused but the connection is %q (%q)", id, st[0], st[1])
			}
			code, body, _ := a.do("GET", "/api/v2/public/linked-account/"+id+"/connection/prov/credentials", nil)
			if code == 200 {
				t.Errorf("%s: credentials of an expired connection answered 200: %v", id, body)
			}
			expired++
		default:
			if st[0] != "active" {
				t.Errorf("%s is %q (%q) with no token refused", id, st[0], st[1])
				continue
			}
			cred := a.must(t, "GET", "/api/v2/public/linked-account/"+id+"/connection/prov/credentials", nil)
			if cred["access_token"] != latest[id].access {
				t.Errorf("%s holds %v, the provider's latest grant is %s", id, cred["access_token"], latest[id].access)
			}
			current++
		}
	}
	// A clean stop finishes or abandons its refreshes without spending a
	// token it does not keep.
	lost := 0
	for tok, prs := range byToken {
		if prs[0].gen == graceful && prs[0].granted && len(prs) > 1 {
			t.Errorf("%s was granted to the process stopped with SIGTERM, which did not keep the new token", tok)
			lost++
		}
	}
	for tok, prs := range byToken {
		if len(prs) > 1 || !prs[0].granted {
			t.Logf("%s presented %d times: %+v", tok, len(prs), prs)
		}
	}
	t.Logf("%d connections, %d kills (seeded in %s): %d refreshes asked; the window hit %d times; "+
		"%d hold the latest grant, %d expired (invalid_grant); "+
		"%d grants lost by the SIGTERM; settled %s after the last kill (lease %s); %s in all",
		conns, kills, seeded.Round(time.Millisecond), total, len(windows), current, expired, lost,
		settledIn.Round(100*time.Millisecond), refreshKillLease, time.Since(start).Round(time.Second))
	t.Logf("each process's first refresh / its stop, after it was ready: %v", gens)
}

// owners runs a query of (account id, lease owner) rows.
func owners(t *testing.T, db *sql.DB, q string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, r := range rowsOf(t, db, q) {
		out[id] = r[0]
	}
	return out
}

// rowsOf runs a query of text columns, keyed by the first.
func rowsOf(t *testing.T, db *sql.DB, q string) map[string][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string][]string{}
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out[vals[0]] = vals[1:]
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
