package worker

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/linkd-dev/linkd"
)

// Schedule fires a function once per period (aligned to UTC multiples of
// Every) across every instance that runs the same schedule: at each period
// the instances race to record the tick in the database and only the
// winner runs it. An instance that starts mid-period fires the current
// period if no one has; a period during which no instance runs is skipped.
type Schedule struct {
	opts  Options
	name  string
	every time.Duration
	// fire claims the period's tick and, when it won, does the work; it
	// returns when to fire again within the period (zero: not needed).
	fire func(ctx context.Context, slot time.Time) (time.Time, error)
}

// NewSchedule returns a schedule named name (unique among schedules) that
// runs fn every period; fn gets the start of its period. The tick is
// claimed in its own transaction before fn runs, so a crash in between
// skips that period's work: fit for work the next period redoes anyway (a
// purge), not for work that must happen once per period (see
// NewClaimingSchedule).
func NewSchedule(o Options, name string, every time.Duration, ticks linkd.TickStore, fn func(ctx context.Context, slot time.Time) error) *Schedule {
	return NewClaimingSchedule(o, name, every, func(ctx context.Context, name string, slot time.Time, owner string) (time.Time, error) {
		won, err := ticks.ClaimTick(ctx, name, slot, owner)
		if err != nil || !won {
			return time.Time{}, err
		}
		return time.Time{}, fn(ctx, slot)
	})
}

// NewClaimingSchedule returns a schedule whose fire claims the tick of
// schedule name for the period starting at slot (for owner) and does the
// period's work with the claim, so that the work is done once per period
// and a crash cannot claim the period with its work lost (a tick in
// batches records its progress with each, and a later fire finishes it).
// A fire returns again, when not zero, to be fired again then: a tick is
// unfinished, held by another instance until again, and should that
// instance have died the fire then finishes it, within the period rather
// than at the next.
func NewClaimingSchedule(o Options, name string, every time.Duration, fire func(ctx context.Context, name string, slot time.Time, owner string) (again time.Time, err error)) *Schedule {
	o.defaults()
	o.Logger = o.Logger.With("schedule", name)
	s := &Schedule{opts: o, name: name, every: every}
	s.fire = func(ctx context.Context, slot time.Time) (time.Time, error) {
		return fire(ctx, name, slot, o.Owner)
	}
	return s
}

// Run fires the schedule until ctx ends. A fire that fails (the database
// out of reach for a moment, a transaction cut off) is tried again within
// its period, backing off from retryFirst: without, one failed attempt
// lost the whole period's work (an hour of an hourly workflow's runs)
// unless another instance happened to fire it. A fire that finds a tick
// held unfinished by another instance fires again when that instance's
// lease runs out (at most once per retryFirst), so that a tick whose
// instance died is finished within the period.
func (s *Schedule) Run(ctx context.Context) {
	for ctx.Err() == nil {
		slot := s.opts.now().Truncate(s.every)
		again, err := s.fire(ctx, slot)
		for wait := retryFirst; err != nil && ctx.Err() == nil; wait = min(2*wait, time.Minute) {
			if !s.opts.now().Add(wait).Before(slot.Add(s.every)) {
				s.opts.Logger.Error("scheduled work failed; its period is over", "err", err)
				break
			}
			s.opts.Logger.Error("scheduled work failed", "err", err, "retry_in", wait.String())
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				again, err = s.fire(ctx, slot)
			}
		}
		// Sleep to just past the next period's start; the jitter spreads the
		// instances' claims (only one wins anyway).
		next := slot.Add(s.every).Sub(s.opts.Clock()) + rand.N(time.Second)
		if !again.IsZero() {
			next = min(next, max(again.Sub(s.opts.Clock())+rand.N(time.Second), retryFirst))
		}
		select {
		case <-ctx.Done():
		case <-time.After(max(next, time.Millisecond)):
		}
	}
}

// retryFirst is how long a failed fire waits before its first retry, and
// the least a fire waits for a tick held by another instance.
const retryFirst = 250 * time.Millisecond

// Fire claims the current period's tick and, when this instance won it,
// does the period's work. It returns the period's start.
func (s *Schedule) Fire(ctx context.Context) (time.Time, error) {
	slot := s.opts.now().Truncate(s.every)
	_, err := s.fire(ctx, slot)
	return slot, err
}
