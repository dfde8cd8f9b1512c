package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
)

// lockedBuffer is a log sink two loops write to at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBulkJobKeepsOneOwner: a bulk delete whose batches take longer than
// its lease (each delete 400 ms, 6 to a batch, a 2 s lease), with two
// instances' loops ready to take it, stays with the instance that claimed
// it, because the loop heartbeats the lease between the batches' saves.
// Without the heartbeat the other instance takes the job over in each
// batch and deletes its accounts again (harmless, but work repeated).
func TestBulkJobKeepsOneOwner(t *testing.T) {
	const (
		accounts = 12
		lease    = 2 * time.Second
		perOne   = 400 * time.Millisecond
	)
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		svc, tn := dbtest.Accounts(t, store)
		var ids []string
		for i := range accounts {
			id := fmt.Sprintf("acct-%d", i)
			if _, err := svc.Create(t.Context(), tn, "test", linkd.AccountInput{AccountID: id}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		// Each delete reads the clock in its transaction: a slow clock
		// makes slow batches.
		svc.Now = func() time.Time { time.Sleep(perOne); return time.Now() }
		var logs lockedBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var first *linkd.BulkService
		for _, owner := range []string{"a", "b"} {
			bulk := linkd.NewBulkService(store, svc)
			bulk.Owner, bulk.Lease, bulk.BatchSize, bulk.Logger = owner, lease, accounts/2, log.With("owner", owner)
			if first == nil {
				first = bulk
			}
			loop := worker.BulkJobs(bulk, worker.Options{Poll: 50 * time.Millisecond, Logger: log})
			wg.Go(func() { loop.Run(ctx) })
		}
		defer func() {
			cancel()
			wg.Wait()
		}()
		j, err := first.QueueDelete(t.Context(), tn, "test", linkd.BulkSelection{IDs: ids}, accounts)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); !j.Finished(); {
			if time.Now().After(deadline) {
				t.Fatalf("the job is %s a minute on (%d done):\n%s", j.State, j.Done, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
			if j, err = store.BulkJob(t.Context(), tn, j.ID); err != nil {
				t.Fatal(err)
			}
		}
		if j.State != linkd.BulkSucceeded || j.Done != accounts || j.Failed != 0 {
			t.Fatalf("the job ended %s with %d done, %d failed", j.State, j.Done, j.Failed)
		}
		if n := strings.Count(logs.String(), "bulk delete started"); n != 1 {
			t.Fatalf("the job was started %d times (changed hands); want 1:\n%s", n, logs.String())
		}
	})
}
