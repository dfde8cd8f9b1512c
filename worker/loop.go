// Package worker runs linkd's background work: imports, bulk jobs, token
// refreshes and revocations, and whatever else is stored as due items with a
// lease. The work itself stays a domain record with its own progress (an
// import job, a revocation); this package only decides when to claim it,
// how many to run at once, and keeps the leases alive, so that every kind
// of work behaves the same under crashes, restarts and several instances.
//
// A Loop claims due items through its Source, runs them, heartbeats their
// leases and sleeps until its poll interval passes or Wake is called (right
// after the commit that made work, so work starts without waiting for the
// poll). An instance that dies leaves its items leased until the lease
// runs out; then any instance claims them again. A Schedule fires a
// function once per period across all instances.
package worker

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// Defaults for Options left zero.
const (
	// DefaultLease is also the default of serve's --job-lease (bulk
	// deletes, workflow runs); kinds of work that are not heartbeated
	// and make one outside call per item (webhook deliveries,
	// revocations, refreshes) set their own, longer than that call.
	DefaultLease = 30 * time.Second
	DefaultPoll  = 10 * time.Second
)

// Options tune a Loop or a Schedule.
type Options struct {
	// Name is the kind of work, for logs.
	Name string
	// Owner names this process in leases; unique per process.
	Owner string
	// Lease is how long a claim holds an item before another instance may
	// take it over; heartbeats renew it while the item runs.
	Lease time.Duration
	// Poll is how long the loop sleeps when nothing is due and nobody
	// wakes it: work made by other instances waits at most this long.
	Poll time.Duration
	// Concurrency is how many items run at once (default 1); with
	// SlowAfter, how many run at once besides the stalled groups'.
	Concurrency int
	// TenantCap, when positive, is how many items of one tenant run at
	// once, so that one tenant's burst cannot take every slot. It needs
	// Source.Tenant.
	TenantCap int
	// GroupCap, when positive, is how many items of one group run at
	// once: a group is what a kind of work's items share that can stall
	// them all together across tenants (for token refreshes, the
	// provider's host), so that one stalled group cannot take every
	// slot. It needs Source.Group.
	GroupCap int
	// SlowAfter, when positive, is how long an item of a group (see
	// GroupCap) may run before its group counts as stalled: the item
	// then leaves its slot to the others and the group's items run in a
	// lane of their own, SlowConcurrency at once, until they end within
	// SlowAfter again (see StalledFor for how many must).
	// This bulkhead bounds what stalled groups take from the others
	// however many stall at once, which no group cap does: a cap of 2
	// per group lets 2 stalled groups fill 4 slots. An item past
	// SlowAfter keeps running (and counting towards its group's cap)
	// outside both lanes' slots, so a group that stalls costs the
	// others at most its cap of slots for SlowAfter, once.
	//
	// Which groups stalled is this loop's own knowledge, not shared with
	// other instances: it is a safeguard of throughput, not of
	// correctness, and each instance learns it within SlowAfter.
	SlowAfter time.Duration
	// SlowConcurrency is how many items of stalled groups a loop claims
	// to run at once (default 2 when SlowAfter is set).
	SlowConcurrency int
	// Clock gives the time leases and due dates are measured by (default
	// time.Now); tests move it instead of sleeping.
	Clock  func() time.Time
	Logger *slog.Logger
	// Observer, when set, is told about every item the loop runs (for
	// metrics).
	Observer Observer
}

// Observer is told about the items loops run: serve exports it as
// Prometheus metrics (items by loop and outcome, how long they ran, how
// many run now), so that a stuck or failing kind of work shows.
type Observer interface {
	// Started reports that loop started an item.
	Started(loop string)
	// Finished reports that an item of loop ended after d; err is what
	// Run returned (nil when the item's own failure was recorded as its
	// outcome).
	Finished(loop string, d time.Duration, err error)
}

func (o *Options) defaults() {
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SlowAfter > 0 && o.SlowConcurrency <= 0 {
		o.SlowConcurrency = 2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// now is the clock's time as stores keep it: UTC, to the microsecond.
func (o *Options) now() time.Time { return linkd.StoreTime(o.Clock()) }

// Source is one kind of leased work.
type Source[T any] struct {
	// Claim leases due items as linkd.Claim describes (it may return
	// fewer than asked, and none when nothing is due). The claim's
	// SkipGroups are groups as Group names them; Claim may translate
	// them into what its store filters by.
	Claim func(ctx context.Context, c linkd.Claim) ([]T, error)
	// Run does one claimed item. Recording the outcome (done, failed, or
	// due again after a Backoff) is Run's, since only it knows the item's
	// record; an error it returns is logged.
	Run func(ctx context.Context, item T) error
	// Heartbeat, when set, renews an item's lease until the given time
	// while Run works on it, every third of the lease. An error (the lease
	// was lost to another instance) cancels Run's context.
	Heartbeat func(ctx context.Context, item T, until time.Time) error
	// Tenant names an item's tenant, for Options.TenantCap.
	Tenant func(item T) linkd.Tenant
	// Group names an item's group, for Options.GroupCap; "" is no
	// group (never capped).
	Group func(item T) string
}

// Loop claims and runs one kind of work. It is ready to use (and to Wake)
// as soon as New returns.
type Loop[T any] struct {
	opts Options
	src  Source[T]
	wake chan struct{}
	free chan struct{} // an item finished: a slot is free

	mu        sync.Mutex
	running   int // items in the main lane's slots
	slow      int // items in the stalled groups' lane, or past SlowAfter
	perTenant map[linkd.Tenant]int
	perGroup  map[string]int
	// stalled holds the groups an item of which ran past SlowAfter.
	stalled map[string]*stall
	// healed holds the groups that left the stalled lane within
	// StalledFor, and what they had to do to leave it.
	healed map[string]healed
}

// stall is what a loop knows of a stalled group.
type stall struct {
	seen time.Time // an item last ran past SlowAfter
	need int       // items ended within SlowAfter since seen to leave the lane
	ok   int       // items ended within SlowAfter since seen
}

// healed is a group's return to the main lane: when, and how many items
// in time it took.
type healed struct {
	at   time.Time
	need int
}

// maxHealNeed bounds how many items in a row a group that keeps stalling
// must end in time to return to the main lane.
const maxHealNeed = 64

// StalledFor is how long a group stays stalled (see Options.SlowAfter)
// when none of its items has run since: its next item then tries the main
// lane again. Otherwise it leaves the stalled lane once its items have
// ended within SlowAfter (one at first) since the last one ran past it,
// with none of its items still running (one may be hanging still). A
// group that stalls again within StalledFor of leaving the lane needs
// twice as many as the last time, up to maxHealNeed. A host that hangs
// now and then left the lane after each request answered in time, and
// each of its hangs took a main-lane slot for SlowAfter: 8 to 12 stalls
// where there are now 1 to 3 (TestIntermittentlyStallingGroupStaysApart).
const StalledFor = 10 * time.Minute

// slot is one running item's place: its group ("" when groups are not
// capped), its lane, and the timer that moves it to the stalled lane.
type slot struct {
	group string
	slow  bool // runs in the stalled lane (or has moved there)
	done  bool
	start time.Time
	timer *time.Timer
}

// New returns a loop over src.
func New[T any](o Options, src Source[T]) *Loop[T] {
	o.defaults()
	o.Logger = o.Logger.With("worker", o.Name)
	return &Loop[T]{opts: o, src: src, wake: make(chan struct{}, 1), free: make(chan struct{}, 1),
		perTenant: map[linkd.Tenant]int{}, perGroup: map[string]int{}, stalled: map[string]*stall{}, healed: map[string]healed{}}
}

// Wake makes the loop look for work now instead of at its next poll. Call
// it after committing work this instance should start at once.
func (l *Loop[T]) Wake() { signal(l.wake) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run claims and runs items until ctx ends, then waits for the items it
// started: they see ctx's end and stop where their progress is saved.
func (l *Loop[T]) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	// dry: a claim that skipped the tenants (or groups) at their cap
	// found less than it asked for, so nothing else was due. Until a
	// wake or a poll says there may be new work, claiming around them
	// again would only repeat that search, which walks their whole
	// backlog of due items; the loop claims again when a slot of theirs
	// frees instead.
	dry := false
	for ctx.Err() == nil {
		asked, got, skipped, err := l.claimAndStart(ctx, &wg, dry)
		if err != nil && ctx.Err() == nil {
			l.opts.Logger.Error("claim work", "err", err)
		}
		if err == nil && skipped && got < asked {
			dry = true
		}
		if err == nil && got > 0 && (got == asked || l.capsInStore()) {
			// More may be due: claim again (or wait for a slot). A store
			// that caps groups across instances may return fewer than
			// asked while more is due.
			continue
		}
		var free chan struct{} // wait for a slot only when one is wanted
		if asked == 0 || skipped {
			free = l.free
		}
		select {
		case <-ctx.Done():
		case <-l.wake:
			dry = false
		case <-free:
		case <-time.After(l.opts.Poll):
			dry = false
		}
	}
}

// claimAndStart claims what the free slots of both lanes allow and starts
// each item; it returns how many it asked for and got, and whether tenants
// or groups at their cap (or stalled) were skipped. When dry, it claims
// nothing while any tenant or group is skipped (asked is then 0).
func (l *Loop[T]) claimAndStart(ctx context.Context, wg *sync.WaitGroup, dry bool) (asked, got int, skipped bool, err error) {
	for _, slow := range []bool{false, true} {
		a, g, sk, err := l.claimLane(ctx, wg, dry, slow)
		asked, got, skipped = asked+a, got+g, skipped || sk
		if err != nil {
			return asked, got, skipped, err
		}
	}
	return asked, got, skipped, nil
}

// claimLane claims for the main lane, which skips the stalled groups, or
// for the stalled groups' lane, which claims only them.
func (l *Loop[T]) claimLane(ctx context.Context, wg *sync.WaitGroup, dry, slow bool) (asked, got int, skipped bool, err error) {
	l.mu.Lock()
	asked = l.opts.Concurrency - l.running
	skip, room := l.busyTenants()
	skipGroups, groupRoom := l.busyGroups()
	stalled := l.stalledGroups()
	if slow {
		asked = l.opts.SlowConcurrency - l.slow
		var only []string
		for _, g := range stalled {
			if !slices.Contains(skipGroups, g) {
				only = append(only, g)
			}
		}
		stalled, skipGroups = only, nil
	}
	l.mu.Unlock()
	asked = min(asked, room, groupRoom)
	skipped = len(skip) > 0 || len(skipGroups) > 0
	c := l.claim(asked, skip)
	if slow {
		if len(stalled) == 0 {
			return 0, 0, false, nil
		}
		c.OnlyGroups = stalled
	} else {
		skipped = skipped || len(stalled) > 0
		c.SkipGroups = append(skipGroups, stalled...)
	}
	if asked <= 0 || (dry && skipped) {
		return 0, 0, skipped, nil
	}
	items, err := l.src.Claim(ctx, c)
	if err != nil {
		return asked, 0, skipped, err
	}
	for _, it := range items {
		s := l.acquire(it, slow)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.release(it, s)
			if err := l.work(ctx, it); err != nil && ctx.Err() == nil {
				l.opts.Logger.Error("work item failed", "err", err)
			}
		}()
	}
	return asked, len(items), skipped, nil
}

// capsInStore reports whether claims carry a group cap for the store to
// hold across instances.
func (l *Loop[T]) capsInStore() bool { return l.opts.GroupCap > 0 && l.src.Group != nil }

func (l *Loop[T]) claim(limit int, skip []linkd.Tenant) linkd.Claim {
	c := linkd.Claim{Owner: l.opts.Owner, Now: l.opts.now(), Lease: l.opts.Lease, Limit: limit, Skip: skip}
	if l.capsInStore() {
		c.GroupCap = l.opts.GroupCap
	}
	return c
}

// stalledGroups lists the stalled groups, forgetting those stalled longer
// than StalledFor ago; l.mu is held.
func (l *Loop[T]) stalledGroups() []string {
	var out []string
	for g, st := range l.stalled {
		if time.Since(st.seen) > StalledFor && l.perGroup[g] == 0 {
			delete(l.stalled, g)
			continue
		}
		out = append(out, g)
	}
	for g, h := range l.healed {
		if time.Since(h.at) > StalledFor {
			delete(l.healed, g)
		}
	}
	slices.Sort(out)
	return out
}

// busyTenants lists the tenants at their cap, and how many items a claim
// may take without pushing any other tenant past it (a claim may return
// them all of one tenant); l.mu is held.
func (l *Loop[T]) busyTenants() (busy []linkd.Tenant, room int) {
	if l.opts.TenantCap <= 0 {
		return nil, l.opts.Concurrency
	}
	return atCap(l.perTenant, l.opts.TenantCap)
}

// busyGroups is busyTenants for groups.
func (l *Loop[T]) busyGroups() (busy []string, room int) {
	if l.opts.GroupCap <= 0 || l.src.Group == nil {
		return nil, l.opts.Concurrency
	}
	return atCap(l.perGroup, l.opts.GroupCap)
}

// atCap lists the keys whose running count is at limit, and how many more
// items the busiest other key may take.
func atCap[K comparable](running map[K]int, limit int) (busy []K, room int) {
	most := 0
	for k, n := range running {
		if n >= limit {
			busy = append(busy, k)
		} else {
			most = max(most, n)
		}
	}
	return busy, limit - most
}

// acquire counts it as running, in the stalled lane when slow, and
// returns its slot, which release is given back: a group may be worked out
// from settings that change while the item runs (the catalog's token
// URLs), and the count must drop where it rose.
func (l *Loop[T]) acquire(it T, slow bool) *slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &slot{slow: slow, start: time.Now()}
	if slow {
		l.slow++
	} else {
		l.running++
	}
	if l.opts.TenantCap > 0 && l.src.Tenant != nil {
		l.perTenant[l.src.Tenant(it)]++
	}
	if l.capsInStore() {
		if s.group = l.src.Group(it); s.group != "" {
			l.perGroup[s.group]++
			if l.opts.SlowAfter > 0 {
				s.timer = time.AfterFunc(l.opts.SlowAfter, func() { l.overdue(s) })
			}
		}
	}
	return s
}

// overdue marks s's group stalled, its item having run for SlowAfter, and
// moves the item out of the main lane's slots.
func (l *Loop[T]) overdue(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.done {
		return
	}
	st := l.stalled[s.group]
	if st == nil {
		st = &stall{need: 1}
		if h, ok := l.healed[s.group]; ok && time.Since(h.at) < StalledFor {
			st.need = min(2*h.need, maxHealNeed)
		}
		delete(l.healed, s.group)
		l.stalled[s.group] = st
		l.opts.Logger.Warn("a group of work stalls; its items run apart", "group", s.group, "after", l.opts.SlowAfter,
			"leaves_after_in_time", st.need)
	}
	st.seen, st.ok = time.Now(), 0
	if !s.slow {
		s.slow = true
		l.running--
		l.slow++
		signal(l.free)
	}
}

func (l *Loop[T]) release(it T, s *slot) {
	l.mu.Lock()
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.slow {
		l.slow--
	} else {
		l.running--
	}
	if l.opts.TenantCap > 0 && l.src.Tenant != nil {
		t := l.src.Tenant(it)
		if l.perTenant[t]--; l.perTenant[t] <= 0 {
			delete(l.perTenant, t)
		}
	}
	if g := s.group; g != "" {
		if l.perGroup[g]--; l.perGroup[g] <= 0 {
			delete(l.perGroup, g)
		}
		// Items that ended in time since the group's last item ran past
		// SlowAfter, as many as the group needs, with none of its items
		// left running (one may be hanging still), show it works again.
		if st := l.stalled[g]; st != nil {
			if time.Since(s.start) < l.opts.SlowAfter {
				st.ok++
			}
			if st.ok >= st.need && l.perGroup[g] == 0 {
				delete(l.stalled, g)
				l.healed[g] = healed{at: time.Now(), need: st.need}
			}
		}
	}
	l.mu.Unlock()
	signal(l.free)
}

// work runs one item with its heartbeat, telling the observer.
func (l *Loop[T]) work(ctx context.Context, it T) error {
	obs := l.opts.Observer
	if obs == nil {
		return l.run(ctx, it)
	}
	obs.Started(l.opts.Name)
	start := time.Now()
	err := l.run(ctx, it)
	obs.Finished(l.opts.Name, time.Since(start), err)
	return err
}

// run runs one item with its heartbeat.
func (l *Loop[T]) run(ctx context.Context, it T) error {
	if l.src.Heartbeat == nil {
		return l.src.Run(ctx, it)
	}
	ictx, cancel := context.WithCancelCause(ctx)
	var hb sync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		t := time.NewTicker(l.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ictx.Done():
				return
			case <-t.C:
				if err := l.src.Heartbeat(ictx, it, l.opts.now().Add(l.opts.Lease)); err != nil {
					if ictx.Err() == nil {
						l.opts.Logger.Warn("lost the lease of a work item; stopping it", "err", err)
					}
					cancel(err)
					return
				}
			}
		}
	}()
	err := l.src.Run(ictx, it)
	cancel(nil)
	hb.Wait() // no heartbeat may renew a lease after the item ends
	return err
}

// Work runs one item claimed outside the loop (a synchronous workflow
// run claimed by id) with its heartbeat, as the loop runs the items it
// claims.
func (l *Loop[T]) Work(ctx context.Context, it T) error { return l.work(ctx, it) }

// Drain claims and runs items one after another until none is due, and
// reports how many it ran; it stops at the first error. Tests, benchmarks
// and one-shot commands use it instead of Run.
func (l *Loop[T]) Drain(ctx context.Context) (int, error) {
	n := 0
	for {
		items, err := l.src.Claim(ctx, l.claim(l.opts.Concurrency, nil))
		if err != nil || len(items) == 0 {
			return n, err
		}
		for _, it := range items {
			n++
			if err := l.work(ctx, it); err != nil {
				return n, err
			}
		}
	}
}
