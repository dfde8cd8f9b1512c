//go:build unix

package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/vault"
)

// BenchmarkWriteCost measures the writer's time per API write (issue 16):
// a create with the create benchmark's body (a name and three UDFs), a
// rename of an existing account (the soak's upsert) and a delete, each
// through AccountService on a store seeded with writeCostSeed accounts,
// from one caller (a transaction each) and from 64 (group commit). The
// writer's time is from BEGIN to the end of COMMIT; each statement's share
// is the time from its start to the next statement's (so Go work between
// statements counts to the statement before it), reported per write as
// µs/<statement>. A fourth case, search, runs searches instead, for what a
// change to the index costs the reads; a fifth, import, writes import
// batches of insertRows accounts (a write is a batch there); mix runs the
// soak's writes (creates, renames and deletes, 3:2:1). Run it with a fixed count, e.g.
//
//	go test ./sqlite/ -run '^$' -bench WriteCost -benchtime 2000x
func BenchmarkWriteCost(b *testing.B) {
	for _, op := range []string{"create", "rename", "delete", "mix", "search", "import"} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", op, callers), func(b *testing.B) { benchWriteCost(b, op, callers) })
		}
	}
}

// writeCostSeed is the number of accounts the store holds before a run;
// LINKD_WRITECOST_SEED sets another.
var writeCostSeed = 10_000

func init() {
	if n, err := strconv.Atoi(os.Getenv("LINKD_WRITECOST_SEED")); err == nil && n > 0 {
		writeCostSeed = n
	}
}

func benchWriteCost(b *testing.B, op string, callers int) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "linkd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	master := make([]byte, 32)
	rand.Read(master)
	keys, _ := vault.New(master)
	svc := linkd.NewAccountService(s, keys)
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(ctx, org); err != nil {
		b.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	// LINKD_WRITECOST_PRESQL runs SQL on the store before the seed (to
	// try an index setting, say).
	if q := os.Getenv("LINKD_WRITECOST_PRESQL"); q != "" {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	input := func(id string, seq int) linkd.AccountInput {
		name := "Customer " + id
		return linkd.AccountInput{AccountID: id, Name: &name, UDF: map[string]json.RawMessage{
			"plan": json.RawMessage(`"pro"`), "seats": json.RawMessage(strconv.Itoa(1 + seq%500)), "region": json.RawMessage(`"eu-west-1"`)}}
	}
	// The seed (and, for deletes, the accounts to delete) go in through
	// the store in large transactions, with their index rows.
	seed := writeCostSeed
	if op == "delete" || op == "mix" {
		seed += b.N
	}
	for start := 0; start < seed; start += 1000 {
		err := s.tx(ctx, func(tx *wtx) error {
			for i := start; i < min(start+1000, seed); i++ {
				a, _, err := svc.Apply(tn, "seed", nil, input("seed-"+strconv.Itoa(i), i))
				if err != nil {
					return err
				}
				if err := insertAccount(ctx, tx, tn, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}

	// LINKD_WRITECOST_SQL runs SQL on the seeded store: a way to measure
	// a part by taking it away (drop a trigger, say).
	if q := os.Getenv("LINKD_WRITECOST_SQL"); q != "" {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var segs int
	if err := s.write.QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM account_search_idx`).Scan(&segs); err != nil {
		b.Fatal(err)
	}
	var sv0 int
	s.write.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&sv0)
	b.Logf("search index segments after the seed: %d, schema version %d", segs, sv0)
	defer func() {
		var sv int
		s.write.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&sv)
		b.Logf("schema version at the end: %d", sv)
	}()

	var deleted atomic.Int64
	write := func(i int) error {
		kind := op
		if op == "mix" {
			// The soak's writes: 15 creates, 10 renames, 5 deletes.
			kind = [6]string{"create", "create", "create", "rename", "rename", "delete"}[i%6]
		}
		switch kind {
		case "create":
			_, err := svc.Create(ctx, tn, "bench", input("new-"+strconv.Itoa(i), i))
			return err
		case "rename":
			// Each rename changes the name, so each one writes.
			name := fmt.Sprintf("Renamed %d", i)
			_, _, err := svc.Upsert(ctx, tn, "bench", linkd.AccountInput{AccountID: "seed-" + strconv.Itoa(i%writeCostSeed), Name: &name})
			return err
		case "import":
			// One import batch: insertRows new accounts in one statement
			// and transaction, as CommitImportBatch writes them.
			accts := make([]*linkd.LinkedAccount, insertRows)
			for j := range accts {
				a, _, err := svc.Apply(tn, "import", nil, input(fmt.Sprintf("imp-%d-%d", i, j), j))
				if err != nil {
					return err
				}
				accts[j] = a
			}
			return s.tx(ctx, func(tx *wtx) error { return s.insertAccounts(ctx, tx, tn, accts) })
		case "delete":
			return svc.Delete(ctx, tn, "bench", "seed-"+strconv.Itoa(writeCostSeed+int(deleted.Add(1))-1))
		default:
			// A search: what an index setting costs the reads. Rare,
			// middling and common queries, through the store's planner.
			q := []string{"seed-1234", "ed-99", "omer s", "r seed-7"}[i%4]
			_, err := s.ListAccounts(ctx, tn, linkd.AccountFilter{Query: q, Limit: 50, SkipTotal: true})
			return err
		}
	}

	var tr stmtTimes
	stmtHook = tr.hook
	defer func() { stmtHook = nil }()
	cpu0 := cpuTime()
	b.ResetTimer()
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := range next {
				if err := write(i); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	stmtHook = nil
	tr.report(b)
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stmtTimes attributes the writer's time to the statements it ran. The
// hook is called on the writer's goroutine only, but read from the
// benchmark's: the mutex orders the two.
type stmtTimes struct {
	mu     sync.Mutex
	last   string
	at     time.Time
	total  time.Duration
	groups int
	by     map[string]time.Duration
	n      map[string]int
}

func (st *stmtTimes) hook(query string) {
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.by == nil {
		st.by, st.n = map[string]time.Duration{}, map[string]int{}
	}
	if st.last != "" {
		d := now.Sub(st.at)
		st.by[st.last] += d
		st.total += d
	}
	st.last, st.at = stmtLabel(query), now
	if query == "BEGIN" {
		st.groups++
	}
	if st.last != "" {
		st.n[st.last]++
	}
}

func (st *stmtTimes) report(b *testing.B) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := float64(b.N)
	b.ReportMetric(float64(st.total.Microseconds())/n, "writer-µs/op")
	b.ReportMetric(n/float64(st.groups), "writes/tx")
	b.ReportMetric(n/b.Elapsed().Seconds(), "writes/s")
	labels := make([]string, 0, len(st.by))
	for l := range st.by {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return st.by[labels[i]] > st.by[labels[j]] })
	var lines []string
	for _, l := range labels {
		lines = append(lines, fmt.Sprintf("%-40s %6.1f µs/write  %5.2f per write", l, float64(st.by[l].Nanoseconds())/1e3/n, float64(st.n[l])/n))
	}
	b.Logf("writer time by statement (%d writes, %d transactions):\n%s", b.N, st.groups, strings.Join(lines, "\n"))
}

// stmtLabel names a statement by its verb and table.
func stmtLabel(query string) string {
	w := strings.Fields(query)
	if len(w) == 0 {
		return ""
	}
	word := func(i int) string {
		if i < len(w) {
			return strings.Trim(w[i], "(),")
		}
		return ""
	}
	switch strings.ToUpper(w[0]) {
	case "INSERT":
		return "INSERT " + word(2)
	case "UPDATE":
		return "UPDATE " + word(1)
	case "DELETE":
		return "DELETE " + word(2)
	case "SELECT":
		for i, x := range w {
			if strings.EqualFold(x, "FROM") {
				return "SELECT " + word(i+1)
			}
		}
	}
	return strings.ToUpper(w[0])
}
