package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// laneItem is an item of a group, which knows the lane that claimed it
// and whether it hangs.
type laneItem struct {
	groupItem
	main, hangs bool
}

// A group that hangs now and then (a provider host that is flaky rather
// than down) must not keep coming back to the main lane after an item
// that ends in time, to cost it a slot for SlowAfter at its next hang.
// Two shapes: a backlog, one item in three hanging (before, the group left
// the stalled lane whenever one item ended in time, though another was
// hanging still: 8 stalls, all 15 hangs in the main lane), and items
// arriving every 40 ms, one in five hanging for 150 ms (before, the group
// healed between hangs: a stall at each one).
func TestIntermittentlyStallingGroupStaysApart(t *testing.T) {
	const slowAfter = 100 * time.Millisecond
	for _, tc := range []struct {
		name      string
		items     int
		every     time.Duration // between the flaky items' due times; 0: all due at once
		hangEvery int
		hang      time.Duration
		// The most stalls: leaving the stalled lane after 1 item in
		// time, then 2, then 4, which the shape never gives.
		maxStalls int
	}{
		{"backlog", 45, 0, 3, 3 * slowAfter, 3},
		{"paced", 60, 40 * time.Millisecond, 5, slowAfter * 3 / 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stalls, hung := runFlakyGroup(t, slowAfter, tc.items, tc.every, tc.hangEvery, tc.hang)
			t.Logf("the flaky group stalled %d times; of its %d hanging items, %d hung in the main lane", stalls, tc.items/tc.hangEvery, hung)
			if stalls > tc.maxStalls {
				t.Errorf("the flaky group entered the stalled lane %d times; want at most %d", stalls, tc.maxStalls)
			}
		})
	}
}

// runFlakyGroup runs items of a group "flaky", due every every from the
// start, of which one in hangEvery hangs for hang, beside endless healthy
// items; it returns how many times the group entered the stalled lane and
// how many of its hanging items the main lane had claimed.
func runFlakyGroup(t *testing.T, slowAfter time.Duration, items int, every time.Duration, hangEvery int, hang time.Duration) (stalls, hungInMain int) {
	var mu sync.Mutex
	next, ran := 0, 0
	start := time.Now()
	claim := func(_ context.Context, c linkd.Claim) ([]laneItem, error) {
		mu.Lock()
		defer mu.Unlock()
		main := len(c.OnlyGroups) == 0
		var out []laneItem
		// The flaky group's items are due first, then endless healthy ones.
		for len(out) < c.Limit && next < items && time.Since(start) >= time.Duration(next)*every && !slices.Contains(c.SkipGroups, "flaky") {
			out = append(out, laneItem{groupItem{linkd.Tenant{OrgID: fmt.Sprint("flaky", next), Env: linkd.EnvTest}, "flaky"}, main, next%hangEvery == 0})
			next++
		}
		for len(out) < c.Limit && main {
			out = append(out, laneItem{groupItem: groupItem{linkd.Tenant{OrgID: "ok", Env: linkd.EnvTest}, "ok"}, main: true})
		}
		return out, nil
	}
	// Each time the group enters the stalled lane the loop warns once.
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(t.Context())
	l := worker.New(worker.Options{Owner: "me", Concurrency: 4, GroupCap: 2, SlowAfter: slowAfter, Poll: 5 * time.Millisecond, Logger: logger}, worker.Source[laneItem]{
		Claim: claim,
		Group: func(it laneItem) string { return it.group },
		Run: func(ctx context.Context, it laneItem) error {
			d := time.Millisecond
			if it.hangs {
				d = hang
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
			if it.group == "flaky" {
				mu.Lock()
				ran++
				if it.hangs && it.main {
					hungInMain++
				}
				mu.Unlock()
			}
			return nil
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done, hung := ran, hungInMain
		mu.Unlock()
		if done == items {
			return strings.Count(logs.String(), "group=flaky"), hung
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d flaky items ran in 30 s", done, items)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
