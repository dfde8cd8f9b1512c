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
	ticks linkd.TickStore
	fn    func(ctx context.Context, slot time.Time) error
}

// NewSchedule returns a schedule named name (unique among schedules) that
// runs fn every period; fn gets the start of its period.
func NewSchedule(o Options, name string, every time.Duration, ticks linkd.TickStore, fn func(ctx context.Context, slot time.Time) error) *Schedule {
	o.defaults()
	o.Logger = o.Logger.With("schedule", name)
	return &Schedule{opts: o, name: name, every: every, ticks: ticks, fn: fn}
}

// Run fires the schedule until ctx ends.
func (s *Schedule) Run(ctx context.Context) {
	for ctx.Err() == nil {
		slot, err := s.Fire(ctx)
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.Error("scheduled work", "err", err)
		}
		// Sleep to just past the next period's start; the jitter spreads the
		// instances' claims (only one wins anyway).
		next := slot.Add(s.every).Sub(s.opts.Clock()) + rand.N(time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(max(next, time.Millisecond)):
		}
	}
}

// Fire claims the current period's tick and, when this instance won it,
// runs the function. It returns the period's start.
func (s *Schedule) Fire(ctx context.Context) (time.Time, error) {
	slot := s.opts.now().Truncate(s.every)
	won, err := s.ticks.ClaimTick(ctx, s.name, slot, s.opts.Owner)
	if err != nil || !won {
		return slot, err
	}
	return slot, s.fn(ctx, slot)
}
