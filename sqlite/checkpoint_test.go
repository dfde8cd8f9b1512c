package sqlite_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/sqlite"
)

// TestDeletedAccountLeavesNoTrace deletes an account and reads the database
// file and its WAL as an attacker with a copy of the disk would: the name
// and UDF value must be gone from both (secure_delete zeroes the file's
// pages; the checkpoint after the delete clears the WAL's old images).
func TestDeletedAccountLeavesNoTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linkd.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, tn := dbtest.Accounts(t, s)
	name, udf := "Name-"+linkd.NewID(), "Udf-"+linkd.NewID()
	// Other accounts around it, so its row shares pages with live ones.
	for i := range 50 {
		other := "Other account " + linkd.NewID()
		if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: "other-" + string(rune('a'+i%26)) + linkd.NewID()[24:], Name: &other}); err != nil {
			t.Fatal(err)
		}
	}
	in := linkd.AccountInput{AccountID: "doomed", Name: &name, UDF: map[string]json.RawMessage{"note": json.RawMessage(`"` + udf + `"`)}}
	if _, err := svc.Create(t.Context(), tn, "t", in); err != nil {
		t.Fatal(err)
	}
	files := []string{path, path + "-wal"}
	if !contains(t, files, name) || !contains(t, files, linkd.FoldSearch(name)) {
		t.Fatal("the name is not on disk before the delete: the test would prove nothing")
	}
	if err := svc.Delete(t.Context(), tn, "t", "doomed"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	// The search text holds the name folded (lower case, here).
	folded := linkd.FoldSearch(name)
	for contains(t, files, name) || contains(t, files, folded) || contains(t, files, udf) {
		if time.Now().After(deadline) {
			t.Fatal("the deleted account's name, search text or UDF is still in the database file or its WAL")
		}
		time.Sleep(20 * time.Millisecond) // polling the files: nothing to wait on
	}
}

// TestSearchIndexSecureDelete deletes every account and reads the size of
// the search index: with secure-delete the deleted accounts' trigrams leave
// its pages at once, so it shrinks to almost nothing; without, deletes add
// markers and the index grows until a merge.
func TestSearchIndexSecureDelete(t *testing.T) {
	s := dbtest.SQLite(t)
	svc, tn := dbtest.Accounts(t, s)
	const n = 100
	for i := range n {
		name := "Customer " + linkd.NewID()
		if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: "acct-" + strconv.Itoa(i), Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	_, read := s.DBs()
	size := func() int {
		t.Helper()
		var b int
		if err := read.QueryRowContext(t.Context(), `SELECT coalesce(sum(length(block)), 0) FROM account_search_data`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := size()
	for i := range n {
		if err := svc.Delete(t.Context(), tn, "t", "acct-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if after := size(); after > before/10 {
		t.Errorf("the search index holds %d bytes after every account was deleted (%d before)", after, before)
	}
}

func contains(t *testing.T, files []string, s string) bool {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// BenchmarkDeleteAccount measures deletes (each wakes the checkpointer),
// from 8 goroutines as concurrent API calls would come.
func BenchmarkDeleteAccount(b *testing.B) {
	s := dbtest.SQLite(b)
	svc, tn := dbtest.Accounts(b, s)
	ids := make(chan string, b.N)
	for i := range b.N {
		name := "Account name " + linkd.NewID()
		id := "acct-" + strconv.Itoa(i)
		in := linkd.AccountInput{AccountID: id, Name: &name, UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`)}}
		if _, err := svc.Create(b.Context(), tn, "t", in); err != nil {
			b.Fatal(err)
		}
		ids <- id
	}
	close(ids)
	b.ResetTimer()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := svc.Delete(b.Context(), tn, "t", <-ids); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
}

// TestCommitsAreCheckpointedInTheBackground writes accounts and waits for
// the database file itself to grow: the writer's own automatic checkpoint
// acts only past walBackstop pages, so only the background checkpointer
// can have copied the WAL back. It must do so while the store stays open.
func TestCommitsAreCheckpointedInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linkd.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, tn := dbtest.Accounts(t, s)
	time.Sleep(1500 * time.Millisecond) // the migrations' commits checkpointed
	before := fileSize(t, path)
	for i := range 300 {
		name := "Account with a name long enough to fill pages " + strconv.Itoa(i)
		if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: "acct-" + linkd.NewID(), Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	wal := fileSize(t, path+"-wal")
	if wal == 0 {
		t.Fatal("the writes left no WAL: the test would prove nothing")
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after writes that left %d bytes of WAL: nothing checkpointed", before, wal)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestObserverTimesTheWriter: the observer hears of each write transaction
// (its requests, work and commit) and of the checkpoints, the truncating
// one a delete asks for included, which is what the slow-writer log and the
// writer's metrics are made from.
func TestObserverTimesTheWriter(t *testing.T) {
	s := dbtest.SQLite(t)
	writes, ckpts := make(chan sqlite.WriteStats, 1000), make(chan sqlite.CheckpointStats, 1000)
	s.Observe(sqlite.Observer{
		Write:      func(w sqlite.WriteStats) { writes <- w },
		Checkpoint: func(c sqlite.CheckpointStats) { ckpts <- c },
	})
	svc, tn := dbtest.Accounts(t, s)
	name := "Observed"
	if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: "seen", Name: &name}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-writes:
		if w.Requests < 1 || w.Work <= 0 || w.Slowest <= 0 || w.Slowest > w.Work || w.Commit <= 0 {
			t.Fatalf("write observed as %+v", w)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no write transaction observed")
	}
	if err := svc.Delete(t.Context(), tn, "t", "seen"); err != nil {
		t.Fatal(err)
	}
	modes := map[string]bool{}
	for deadline := time.After(20 * time.Second); !modes["truncate"]; {
		select {
		case c := <-ckpts:
			if c.Took <= 0 {
				t.Fatalf("checkpoint observed as %+v", c)
			}
			modes[c.Mode] = true
		case <-deadline:
			t.Fatalf("after a delete, checkpoints observed: %v; want a truncate", modes)
		}
	}
	if !modes["passive"] {
		t.Fatalf("no passive checkpoint before the truncation: %v", modes)
	}
}
