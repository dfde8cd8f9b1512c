package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// testWorkerLoops runs 10,000 short items (revocations, queued by deleting
// one account in each of two tenants) through three worker loops at once,
// as three instances would: each item runs exactly once, no loop runs more
// of one tenant's items at once than its cap, and nothing is left due.
// Under the race detector or -short it runs 1,000.
func testWorkerLoops(t *testing.T, e *env) {
	perTenant := 5000
	if raceDetector || testing.Short() {
		perTenant = 500
	}
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvProduction}
	now := time.Now().UTC().Truncate(time.Microsecond)
	queue := func(tn linkd.Tenant) {
		t.Helper()
		e.create(t, tn, "gone", "Gone", nil)
		err := e.store.DeleteAccount(e.ctx, tn, "gone", func(acct *linkd.LinkedAccount, _ []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
			revs := make([]*linkd.Revocation, perTenant)
			for i := range revs {
				revs[i] = &linkd.Revocation{ID: linkd.NewID(), OrgID: tn.OrgID, Env: tn.Env, AccountID: "gone", Slug: fmt.Sprint("app", i%7),
					Token: []byte("sealed"), DataKey: []byte("key"), NextAt: now, CreatedAt: now}
			}
			return revs, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: "account.delete", AccountID: "gone"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queue(e.t)
	queue(other)

	const tenantCap = 2
	var (
		mu      sync.Mutex
		runs    = map[string]int{}
		total   atomic.Int64
		overCap atomic.Int64
	)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 3 {
		running := map[linkd.Tenant]int{}
		var rmu sync.Mutex
		tenantOf := func(r *linkd.Revocation) linkd.Tenant { return linkd.Tenant{OrgID: r.OrgID, Env: r.Env} }
		loop := worker.New(worker.Options{Name: "test", Owner: fmt.Sprint("instance-", i), Concurrency: 4, TenantCap: tenantCap, Poll: 20 * time.Millisecond},
			worker.Source[*linkd.Revocation]{
				Claim:  e.store.ClaimRevocations,
				Tenant: tenantOf,
				Run: func(ctx context.Context, r *linkd.Revocation) error {
					tn := tenantOf(r)
					rmu.Lock()
					if running[tn]++; running[tn] > tenantCap {
						overCap.Add(1)
					}
					rmu.Unlock()
					defer func() { rmu.Lock(); running[tn]--; rmu.Unlock() }()
					mu.Lock()
					runs[r.ID]++
					mu.Unlock()
					ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: "connection.revoke", AccountID: r.AccountID}
					if err := e.store.FinishRevocation(ctx, r, ev); err != nil {
						return err
					}
					if total.Add(1) == int64(2*perTenant) {
						cancel()
					}
					return nil
				},
			})
		wg.Go(func() { loop.Run(ctx) })
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Minute):
		cancel()
	}
	wg.Wait()
	if got := total.Load(); got != int64(2*perTenant) {
		t.Fatalf("%d items finished, want %d", got, 2*perTenant)
	}
	for id, n := range runs {
		if n != 1 {
			t.Fatalf("item %s ran %d times", id, n)
		}
	}
	if len(runs) != 2*perTenant {
		t.Fatalf("%d distinct items ran, want %d", len(runs), 2*perTenant)
	}
	if n := overCap.Load(); n > 0 {
		t.Fatalf("a loop ran more than %d items of one tenant at once (%d times)", tenantCap, n)
	}
	left, err := e.store.ClaimRevocations(e.ctx, linkd.Claim{Owner: "check", Now: now.Add(time.Hour), Lease: time.Minute, Limit: 10})
	if err != nil || len(left) != 0 {
		t.Fatalf("left after the run: %d, %v", len(left), err)
	}
}

// testClaimSkipsTenants checks that a claim leaves out the tenants it skips.
func testClaimSkipsTenants(t *testing.T, e *env) {
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, tn := range []linkd.Tenant{e.t, other} {
		e.create(t, tn, "gone", "Gone", nil)
		err := e.store.DeleteAccount(e.ctx, tn, "gone", func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
			r := &linkd.Revocation{ID: linkd.NewID(), OrgID: tn.OrgID, Env: tn.Env, AccountID: "gone", Slug: "app", Token: []byte("t"), DataKey: []byte("k"), NextAt: now, CreatedAt: now}
			return []*linkd.Revocation{r}, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.store.ClaimRevocations(e.ctx, linkd.Claim{Owner: "a", Now: now, Lease: time.Minute, Limit: 10, Skip: []linkd.Tenant{e.t}})
	if err != nil || len(got) != 1 || got[0].OrgID != other.OrgID {
		t.Fatalf("claim skipping %v: %+v, %v", e.t, got, err)
	}
	got, err = e.store.ClaimRevocations(e.ctx, linkd.Claim{Owner: "a", Now: now, Lease: time.Minute, Limit: 10, Skip: []linkd.Tenant{other}})
	if err != nil || len(got) != 1 || got[0].OrgID != e.t.OrgID {
		t.Fatalf("claim skipping %v: %+v, %v", other, got, err)
	}
}

// testScheduleTicks checks that of many instances claiming one period's
// tick at once exactly one wins, and that the next period can be won again.
func testScheduleTicks(t *testing.T, e *env) {
	slot := time.Now().UTC().Truncate(time.Hour)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			won, err := e.store.ClaimTick(e.ctx, "purge", slot, fmt.Sprint("instance-", i))
			if err != nil {
				t.Error(err)
			}
			if won {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d instances won one tick", n)
	}
	if won, err := e.store.ClaimTick(e.ctx, "other-schedule", slot, "a"); err != nil || !won {
		t.Fatalf("another schedule's tick: %v, %v", won, err)
	}
	if won, err := e.store.ClaimTick(e.ctx, "purge", slot.Add(time.Hour), "a"); err != nil || !won {
		t.Fatalf("the next period's tick: %v, %v", won, err)
	}
}
