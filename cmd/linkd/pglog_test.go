package main

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pgLogDuration matches a statement PostgreSQL logged for its duration
// (log_min_duration_statement): its time, its milliseconds, and its text
// after the protocol step ("execute stmtcache_…:", "bind <unnamed>:",
// "statement:").
var pgLogDuration = regexp.MustCompile(`^(\S+ \S+) \S+ \[\d+\] LOG:  duration: ([0-9.]+) ms  (?:statement|\w+ [^:]+): (.*)$`)

// pgLogEvent matches the first line of what autovacuum and checkpoints log.
var pgLogEvent = regexp.MustCompile(`^(\S+ \S+) \S+ \[\d+\] LOG:  (automatic (?:vacuum|analyze) of table "[^"]+"|checkpoint complete).*$`)

// pgSlowSummary condenses a PostgreSQL server log into what a slow soak
// asks first: which statements ran long (grouped by their first 100
// characters: how many, the longest, first and last seen), and when
// autovacuum and checkpoints ran, so that a stall lines up with its cause.
func pgSlowSummary(log string) string {
	type group struct {
		text        string
		n           int
		most        float64
		first, last string
	}
	groups := map[string]*group{}
	var events []string
	for _, l := range strings.Split(log, "\n") {
		if m := pgLogDuration.FindStringSubmatch(l); m != nil {
			ms, _ := strconv.ParseFloat(m[2], 64)
			key := strings.Join(strings.Fields(m[3]), " ")
			key = key[:min(len(key), 100)]
			g := groups[key]
			if g == nil {
				g = &group{text: key, first: m[1]}
				groups[key] = g
			}
			g.n++
			g.most = max(g.most, ms)
			g.last = m[1]
		} else if m := pgLogEvent.FindStringSubmatch(l); m != nil {
			events = append(events, m[1]+" "+m[2])
		}
	}
	if len(groups) == 0 && len(events) == 0 {
		return "(none)"
	}
	sorted := make([]*group, 0, len(groups))
	for _, g := range groups {
		sorted = append(sorted, g)
	}
	slices.SortFunc(sorted, func(a, b *group) int { return cmp.Or(b.n-a.n, strings.Compare(a.text, b.text)) })
	var b strings.Builder
	for i, g := range sorted {
		if i == 15 {
			fmt.Fprintf(&b, "… %d more kinds of statement\n", len(sorted)-i)
			break
		}
		fmt.Fprintf(&b, "%5d× max %8.1f ms  %s – %s  %s\n", g.n, g.most, g.first, g.last, g.text)
	}
	if len(events) > 40 {
		fmt.Fprintf(&b, "… %d earlier autovacuum runs and checkpoints\n", len(events)-40)
		events = events[len(events)-40:]
	}
	for _, e := range events {
		b.WriteString(e + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func TestPgSlowSummary(t *testing.T) {
	log := `2026-12-08 00:17:58.007 UTC [14657] LOG:  automatic vacuum of table "postgres.public.account_counts": index scans: 1
	pages: 0 removed, 5 remain
2026-12-08 00:19:50.707 UTC [14434] LOG:  duration: 265.368 ms  execute stmtcache_757e: WITH ins AS (
2026-12-08 00:20:07.926 UTC [14434] LOG:  duration: 300.846 ms  execute <unnamed>: SELECT a.id FROM linked_accounts a WHERE a.org_id = $1
2026-12-08 00:20:09.423 UTC [14432] LOG:  duration: 103.882 ms  bind <unnamed>: SELECT a.id FROM  linked_accounts a WHERE a.org_id = $1
2026-12-08 00:20:10.000 UTC [14432] LOG:  duration: 748.197 ms  statement: SELECT gin_clean_pending_list('linked_accounts_search')
2026-12-08 00:20:11.000 UTC [14432] LOG:  checkpoint complete: wrote 3 buffers (0.0%); total=0.1 s
2026-12-08 00:20:12.000 UTC [14432] LOG:  connection received: host=127.0.0.1`
	got := pgSlowSummary(log)
	want := `    2× max    300.8 ms  2026-12-08 00:20:07.926 – 2026-12-08 00:20:09.423  SELECT a.id FROM linked_accounts a WHERE a.org_id = $1
    1× max    748.2 ms  2026-12-08 00:20:10.000 – 2026-12-08 00:20:10.000  SELECT gin_clean_pending_list('linked_accounts_search')
    1× max    265.4 ms  2026-12-08 00:19:50.707 – 2026-12-08 00:19:50.707  WITH ins AS (
2026-12-08 00:17:58.007 automatic vacuum of table "postgres.public.account_counts"
2026-12-08 00:20:11.000 checkpoint complete`
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	if got := pgSlowSummary("2026-12-08 00:20:12.000 UTC [1] LOG:  database system is ready\n"); got != "(none)" {
		t.Errorf("summary of a quiet log: %q", got)
	}
}
