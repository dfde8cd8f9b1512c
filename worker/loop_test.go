package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
)

// queue is an in-process list of due items, claimed in order. The stores'
// claims are tested against real databases in storetest; this checks what
// the loop does with what a claim returns.
type queue struct {
	mu     sync.Mutex
	items  []int
	claims []linkd.Claim
}

func (q *queue) add(n ...int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, n...)
}

func (q *queue) claimed() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.claims)
}

func (q *queue) claim(_ context.Context, c linkd.Claim) ([]int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claims = append(q.claims, c)
	n := min(c.Limit, len(q.items))
	out := append([]int(nil), q.items[:n]...)
	q.items = q.items[n:]
	return out, nil
}

func TestLoopRunsAtMostConcurrencyAtOnce(t *testing.T) {
	q := &queue{}
	q.add(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	var running, most, done atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 3, Poll: time.Hour}, worker.Source[int]{
		Claim: q.claim,
		Run: func(ctx context.Context, _ int) error {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			if done.Add(1) == 10 {
				cancel()
			}
			return nil
		},
	})
	l.Run(ctx) // returns once cancelled and every started item has ended
	if done.Load() != 10 {
		t.Fatalf("%d items ran, want 10", done.Load())
	}
	if m := most.Load(); m != 3 {
		t.Fatalf("at most %d items ran at once, want 3", m)
	}
	for _, c := range q.claims {
		if c.Limit < 1 || c.Limit > 3 || c.Owner != "me" || c.Lease != worker.DefaultLease {
			t.Fatalf("claim %+v", c)
		}
	}
}

func TestWakeStartsWorkBeforeThePoll(t *testing.T) {
	q := &queue{}
	ran := make(chan int, 1)
	l := worker.New(worker.Options{Owner: "me", Poll: time.Hour}, worker.Source[int]{
		Claim: q.claim,
		Run:   func(_ context.Context, i int) error { ran <- i; return nil },
	})
	l.Wake() // before Run: nothing is lost
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	// The loop has claimed once, found nothing, and sleeps for its
	// hour-long poll.
	for q.claimed() == 0 {
		time.Sleep(time.Millisecond)
	}
	q.add(42)
	l.Wake()
	select {
	case i := <-ran:
		if i != 42 {
			t.Fatalf("ran %d", i)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not start the work")
	}
}

func TestHeartbeatRenewsAndALostLeaseStopsTheItem(t *testing.T) {
	var beats atomic.Int64
	var until atomic.Value
	stopped := make(chan error, 1)
	l := worker.New(worker.Options{Owner: "me", Lease: 30 * time.Millisecond}, worker.Source[int]{
		Claim: (&queue{items: []int{1}}).claim,
		Heartbeat: func(_ context.Context, _ int, u time.Time) error {
			until.Store(u)
			if beats.Add(1) == 3 {
				return linkd.Errorf(linkd.ECONFLICT, "taken over")
			}
			return nil
		},
		Run: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return ctx.Err()
		},
	})
	start := time.Now()
	if _, err := l.Drain(t.Context()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain: %v", err)
	}
	if cause := <-stopped; linkd.ErrorCode(cause) != linkd.ECONFLICT {
		t.Fatalf("the item stopped because of %v, want the lost lease", cause)
	}
	if n := beats.Load(); n != 3 {
		t.Fatalf("%d heartbeats", n)
	}
	if u := until.Load().(time.Time); !u.After(start.Add(30 * time.Millisecond)) {
		t.Fatalf("the last heartbeat renewed to %v, not a lease past the start", u)
	}
}

func TestTenantCapLeavesRoomForOthers(t *testing.T) {
	a, b := linkd.Tenant{OrgID: "a", Env: linkd.EnvTest}, linkd.Tenant{OrgID: "b", Env: linkd.EnvTest}
	var mu sync.Mutex
	var claims []linkd.Claim
	// Tenant a has a long backlog of slow items; b's one item must not wait
	// behind them.
	release := make(chan struct{})
	bRan := make(chan struct{})
	backlog := 10
	claim := func(_ context.Context, c linkd.Claim) ([]linkd.Tenant, error) {
		mu.Lock()
		defer mu.Unlock()
		claims = append(claims, c)
		var out []linkd.Tenant
		for len(out) < c.Limit {
			switch {
			case backlog > 0 && !c.Skips(a):
				backlog--
				out = append(out, a)
			case len(claims) > 1 && !c.Skips(b):
				out = append(out, b)
			default:
				return out, nil
			}
		}
		return out, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 4, TenantCap: 2, Poll: 10 * time.Millisecond}, worker.Source[linkd.Tenant]{
		Claim:  claim,
		Tenant: func(t linkd.Tenant) linkd.Tenant { return t },
		Run: func(ctx context.Context, t linkd.Tenant) error {
			if t == b {
				select {
				case bRan <- struct{}{}:
				default:
				}
				return nil
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	select {
	case <-bRan:
	case <-time.After(5 * time.Second):
		t.Fatal("tenant b's item waited behind tenant a's backlog")
	}
	close(release)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, c := range claims {
		if c.Limit > 2 {
			t.Fatalf("a claim asked for %d items with a tenant cap of 2", c.Limit)
		}
	}
}

// An item of one tenant and group, for TestGroupCapLeavesRoomForOthers.
type groupItem struct {
	tenant linkd.Tenant
	group  string
}

// A group whose items all stall (a provider host that hangs), spread over
// many tenants so that the tenant cap does not hold it back, takes at most
// GroupCap slots: another group's item runs at once.
func TestGroupCapLeavesRoomForOthers(t *testing.T) {
	var mu sync.Mutex
	var claims []linkd.Claim
	backlog := 10
	claim := func(_ context.Context, c linkd.Claim) ([]groupItem, error) {
		mu.Lock()
		defer mu.Unlock()
		claims = append(claims, c)
		var out []groupItem
		for len(out) < c.Limit {
			switch {
			case backlog > 0 && !slices.Contains(c.SkipGroups, "hang"):
				backlog--
				out = append(out, groupItem{linkd.Tenant{OrgID: fmt.Sprint("t", backlog), Env: linkd.EnvTest}, "hang"})
			case len(claims) > 1 && !slices.Contains(c.SkipGroups, "ok"):
				out = append(out, groupItem{linkd.Tenant{OrgID: "ok", Env: linkd.EnvTest}, "ok"})
			default:
				return out, nil
			}
		}
		return out, nil
	}
	release := make(chan struct{})
	okRan := make(chan struct{})
	var hanging, most atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 4, TenantCap: 2, GroupCap: 2, Poll: 10 * time.Millisecond}, worker.Source[groupItem]{
		Claim:  claim,
		Tenant: func(it groupItem) linkd.Tenant { return it.tenant },
		Group:  func(it groupItem) string { return it.group },
		Run: func(ctx context.Context, it groupItem) error {
			if it.group == "ok" {
				select {
				case okRan <- struct{}{}:
				default:
				}
				return nil
			}
			n := hanging.Add(1)
			defer hanging.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	select {
	case <-okRan:
	case <-time.After(5 * time.Second):
		t.Fatalf("the other group's item waited behind the stalled group (%d of its items running)", hanging.Load())
	}
	close(release)
	cancel()
	wg.Wait()
	if m := most.Load(); m > 2 {
		t.Fatalf("%d items of the stalled group ran at once with a group cap of 2", m)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range claims {
		if c.Limit > 2 {
			t.Fatalf("a claim asked for %d items with a group cap of 2", c.Limit)
		}
	}
}

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	for attempt, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := worker.Backoff(attempt, time.Minute, 10*time.Minute)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: only %d distinct delays in 200: no jitter", attempt, len(seen))
		}
	}
}

func TestScheduleFiresOncePerPeriodAcrossInstances(t *testing.T) {
	for _, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			store := e.Open(t)
			clock := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
			var fired []time.Time
			var mu sync.Mutex
			fn := func(_ context.Context, slot time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				fired = append(fired, slot)
				return nil
			}
			var instances []*worker.Schedule
			for _, owner := range []string{"a", "b", "c"} {
				o := worker.Options{Owner: owner, Clock: func() time.Time { return clock }}
				instances = append(instances, worker.NewSchedule(o, "purge", time.Hour, store, fn))
			}
			for range 2 {
				for _, s := range instances {
					if _, err := s.Fire(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			}
			clock = clock.Add(time.Hour)
			for _, s := range instances {
				if _, err := s.Fire(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			want := []time.Time{time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)}
			if len(fired) != 2 || !fired[0].Equal(want[0]) || !fired[1].Equal(want[1]) {
				t.Fatalf("fired %v, want %v", fired, want)
			}
		})
	}
}

// A tenant at its cap with a long backlog: each freed slot is refilled
// with its next item, and the loop does not search around it after every
// item (a store walks the tenant's whole backlog to find nothing else).
func TestCappedBacklogDoesNotRepeatEmptySearches(t *testing.T) {
	a := linkd.Tenant{OrgID: "a", Env: linkd.EnvTest}
	var mu sync.Mutex
	backlog, empty := 40, 0
	claim := func(_ context.Context, c linkd.Claim) ([]linkd.Tenant, error) {
		mu.Lock()
		defer mu.Unlock()
		var out []linkd.Tenant
		for len(out) < c.Limit && backlog > 0 && !c.Skips(a) {
			backlog--
			out = append(out, a)
		}
		if len(out) == 0 && len(c.Skip) > 0 {
			empty++
		}
		return out, nil
	}
	var done atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 8, TenantCap: 2, Poll: time.Hour}, worker.Source[linkd.Tenant]{
		Claim:  claim,
		Tenant: func(t linkd.Tenant) linkd.Tenant { return t },
		Run: func(ctx context.Context, _ linkd.Tenant) error {
			time.Sleep(time.Millisecond)
			if done.Add(1) == 40 {
				cancel()
			}
			return nil
		},
	})
	finished := make(chan struct{})
	go func() { l.Run(ctx); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("the backlog stalled: %d of 40 items ran", done.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if empty > 1 {
		t.Fatalf("%d claims searched around the capped tenant and found nothing; want at most 1 until a wake or poll", empty)
	}
}

// TestScheduleRetriesAFailedFireWithinItsPeriod: a fire that fails is
// tried again, for the same period, until it succeeds (without the retry
// the period was lost: the schedule slept until the next one).
func TestScheduleRetriesAFailedFireWithinItsPeriod(t *testing.T) {
	clock := time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)
	var mu sync.Mutex
	var slots []time.Time
	done := make(chan struct{})
	fire := func(_ context.Context, _ string, slot time.Time, _ string) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		slots = append(slots, slot)
		switch len(slots) {
		case 1, 2:
			return time.Time{}, errors.New("the database is out of reach")
		case 3:
			close(done)
		}
		return time.Time{}, nil
	}
	o := worker.Options{Owner: "a", Clock: func() time.Time { return clock }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go worker.NewClaimingSchedule(o, "sync", time.Hour, fire).Run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no successful fire after two failures: %v", slots)
	}
	mu.Lock()
	defer mu.Unlock()
	want := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, s := range slots {
		if !s.Equal(want) {
			t.Fatalf("fired slots %v, want each %v", slots, want)
		}
	}
}

// TestStalledGroupsRunApart: a cap per group does not bound what enough
// stalled groups take (3 groups at a cap of 2 fill 4 slots, and more).
// With SlowAfter, an item running past it leaves its slot and its group's
// items run in a lane of their own: the other group's items run within
// about SlowAfter, though the stalled groups' items were due first, and
// the stalled lane still takes their items one group at a time within its
// size. Once a stalled group's item ends in time, the group is back in the
// main lane.
func TestStalledGroupsRunApart(t *testing.T) {
	const slowAfter = 200 * time.Millisecond
	hangs := []string{"h1", "h2", "h3"}
	var mu sync.Mutex
	var claims []linkd.Claim
	backlog := map[string]int{"h1": 6, "h2": 6, "h3": 6}
	claim := func(_ context.Context, c linkd.Claim) ([]groupItem, error) {
		mu.Lock()
		defer mu.Unlock()
		claims = append(claims, c)
		var out []groupItem
		// The stalled groups' items are due first, round robin.
		for len(out) < c.Limit {
			took := false
			for _, g := range hangs {
				if len(out) < c.Limit && backlog[g] > 0 && !slices.Contains(c.SkipGroups, g) && (len(c.OnlyGroups) == 0 || slices.Contains(c.OnlyGroups, g)) {
					backlog[g]--
					out = append(out, groupItem{linkd.Tenant{OrgID: fmt.Sprint(g, backlog[g]), Env: linkd.EnvTest}, g})
					took = true
				}
			}
			if !took {
				break
			}
		}
		for len(out) < c.Limit && len(c.OnlyGroups) == 0 && !slices.Contains(c.SkipGroups, "ok") {
			out = append(out, groupItem{linkd.Tenant{OrgID: "ok", Env: linkd.EnvTest}, "ok"})
		}
		return out, nil
	}
	release := make(chan struct{})
	var oks atomic.Int64
	var mostMu sync.Mutex
	open, most := map[string]int{}, map[string]int{}
	total, mostTotal := 0, 0
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 4, GroupCap: 2, SlowAfter: slowAfter, Poll: 20 * time.Millisecond}, worker.Source[groupItem]{
		Claim: claim,
		Group: func(it groupItem) string { return it.group },
		Run: func(ctx context.Context, it groupItem) error {
			if it.group == "ok" {
				oks.Add(1)
				time.Sleep(time.Millisecond)
				return nil
			}
			mostMu.Lock()
			open[it.group]++
			total++
			most[it.group], mostTotal = max(most[it.group], open[it.group]), max(mostTotal, total)
			mostMu.Unlock()
			defer func() {
				mostMu.Lock()
				open[it.group]--
				total--
				mostMu.Unlock()
			}()
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	start := time.Now()
	for oks.Load() < 20 {
		if time.Since(start) > slowAfter+2*time.Second {
			t.Fatalf("%d items of the healthy group ran %v after the start, with 3 groups stalled", oks.Load(), time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	mostMu.Lock()
	if total < 4 {
		t.Fatalf("%d stalled items running when the healthy ones ran: the test proves nothing", total)
	}
	for g, m := range most {
		if m > 2 {
			t.Errorf("%d items of %s ran at once with a group cap of 2", m, g)
		}
	}
	// The main lane's 4 items stalled, then the stalled lane's 2 (at
	// most: its groups may be at their cap); no more than the 3 groups'
	// caps in all.
	if mostTotal > 6 {
		t.Errorf("%d stalled items ran at once; the groups' caps allow 6", mostTotal)
	}
	t.Logf("healthy items ran from %v after the start; stalled items running at once: %v (%d in all)", time.Since(start).Round(time.Millisecond), most, mostTotal)
	mostMu.Unlock()
	// The groups heal: their items end at once from now on, and the
	// main lane claims them again.
	close(release)
	for {
		mu.Lock()
		last := claims[len(claims)-1]
		mu.Unlock()
		if len(last.OnlyGroups) == 0 && !slices.ContainsFunc(last.SkipGroups, func(g string) bool { return slices.Contains(hangs, g) }) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the healed groups are still skipped by the main lane: %+v", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScheduleFiresAgainWhenATickIsHeld: a fire that finds a tick held
// unfinished by another instance (it returns when that instance's lease
// runs out) is fired again, within the period, once the lease ran out,
// and not before; a fire that asks again for a moment already past waits
// retryFirst at least, rather than spinning. Without, a tick whose
// instance died mid-way waited for the next period's fire (an hour late
// for an hourly workflow).
func TestScheduleFiresAgainWhenATickIsHeld(t *testing.T) {
	// Noon of a day-long period: no period starts during the test.
	offset := time.Until(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	clock := func() time.Time { return time.Now().Add(offset) }
	var mu sync.Mutex
	var fires []time.Time
	leaseEnd := clock().Add(400 * time.Millisecond)
	fire := func(_ context.Context, _ string, _ time.Time, _ string) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		fires = append(fires, clock())
		switch len(fires) {
		case 1:
			return leaseEnd, nil
		case 2, 3, 4, 5, 6, 7, 8, 9, 10:
			return clock().Add(-time.Hour), nil // a lease long past: no spin
		}
		return time.Time{}, nil
	}
	o := worker.Options{Owner: "a", Clock: clock}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go worker.NewClaimingSchedule(o, "sync", 24*time.Hour, fire).Run(ctx)
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(fires) < 2 {
		t.Fatalf("fired %d times in 2 s; want a second fire once the lease ran out", len(fires))
	}
	if fires[1].Before(leaseEnd) {
		t.Fatalf("fired again %v before the lease ran out", leaseEnd.Sub(fires[1]))
	}
	for i := 2; i < len(fires); i++ {
		if d := fires[i].Sub(fires[i-1]); d < 200*time.Millisecond {
			t.Fatalf("fire %d came %v after the one before: a spin", i+1, d)
		}
	}
}
