package linkd_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/vault"
)

// gatedStore is a real store whose AppendCalls can be held at a gate, to
// stand for a database that has fallen behind, and which notes the size of
// every batch it is given.
type gatedStore struct {
	linkd.Store
	entered chan struct{} // receives once per batch, when one is set
	gate    chan struct{} // AppendCalls waits for it to close, when one is set
	mu      sync.Mutex
	batches []int
}

func (g *gatedStore) AppendCalls(ctx context.Context, calls []linkd.AppCall) error {
	g.mu.Lock()
	g.batches = append(g.batches, len(calls))
	g.mu.Unlock()
	if g.entered != nil {
		g.entered <- struct{}{}
	}
	if g.gate != nil {
		<-g.gate
	}
	return g.Store.AppendCalls(ctx, calls)
}

// recorderEnv is a store with one account, "cust", to log calls of.
func recorderEnv(t *testing.T, store linkd.Store) (linkd.Tenant, func(n int) []linkd.AppCall) {
	t.Helper()
	ctx := t.Context()
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme-" + linkd.NewID(), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	name := "Customer"
	if _, err := linkd.NewAccountService(store, keys).Create(ctx, tn, "key-1", linkd.AccountInput{AccountID: "cust", Name: &name}); err != nil {
		t.Fatal(err)
	}
	calls := func(n int) []linkd.AppCall {
		out := make([]linkd.AppCall, n)
		for i := range out {
			out[i] = linkd.AppCall{Tenant: tn, AccountID: "cust", Slug: "slack", At: time.Now(), Method: "GET", Path: "/v1/x", Status: 200, Attempts: 1}
		}
		return out
	}
	return tn, calls
}

func total(t *testing.T, store linkd.Store, tn linkd.Tenant) int64 {
	t.Helper()
	st, err := store.CallStats(t.Context(), tn, "cust", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st.Total
}

// TestCallRecorderBatches: calls are written in batches of at most Batch,
// and without Close, within FlushEvery.
func TestCallRecorderBatches(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		tn, calls := recorderEnv(t, store)
		g := &gatedStore{Store: store}
		r := linkd.NewCallRecorder(g, linkd.CallRecorderOptions{Batch: 100, FlushEvery: 20 * time.Millisecond})
		t.Cleanup(func() { r.Close() })
		for _, c := range calls(250) {
			r.Record(c)
		}
		// No Close: the timer writes the last partial batch.
		deadline := time.Now().Add(10 * time.Second)
		for total(t, store, tn) < 250 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of 250 calls written", total(t, store, tn))
			}
			<-time.After(5 * time.Millisecond) // poll
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, n := range g.batches {
			if n > 100 {
				t.Fatalf("batches %v: one is larger than Batch", g.batches)
			}
		}
		if r.Dropped() != 0 || r.Failed() != 0 {
			t.Fatalf("dropped %d, failed %d", r.Dropped(), r.Failed())
		}
	})
}

// TestCallRecorderCloseFlushes: Close writes what is buffered before it
// returns, however long the flush period; a call after Close is dropped.
func TestCallRecorderCloseFlushes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		tn, calls := recorderEnv(t, store)
		r := linkd.NewCallRecorder(store, linkd.CallRecorderOptions{FlushEvery: time.Hour})
		for _, c := range calls(7) {
			r.Record(c)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n := total(t, store, tn); n != 7 {
			t.Fatalf("after Close: %d calls stored, want 7", n)
		}
		r.Record(calls(1)[0])
		if r.Dropped() != 1 {
			t.Fatalf("a call after Close: dropped = %d, want 1", r.Dropped())
		}
		r.Close() // twice is fine
	})
}

// TestCallRecorderNeverBlocks: while the database is stuck, Record keeps
// returning at once; what does not fit in the buffer is dropped and
// counted, and what fits is written once the database is back.
func TestCallRecorderNeverBlocks(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		tn, calls := recorderEnv(t, store)
		g := &gatedStore{Store: store, entered: make(chan struct{}, 10), gate: make(chan struct{})}
		r := linkd.NewCallRecorder(g, linkd.CallRecorderOptions{Buffer: 10, Batch: 1, FlushEvery: time.Hour})
		cs := calls(16)
		r.Record(cs[0])
		<-g.entered // the writer holds call 0 and is stuck in the database
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, c := range cs[1:] {
				r.Record(c)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Record blocked on a stuck database")
		}
		if got := r.Dropped(); got != 5 {
			t.Fatalf("dropped = %d, want the 5 calls beyond the buffer of 10", got)
		}
		close(g.gate)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n := total(t, store, tn); n != 11 {
			t.Fatalf("%d calls stored, want 11 (1 in flight + 10 buffered)", n)
		}
	})
}
