package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TickTiming is what MeasureTick measured of one tick.
type TickTiming struct {
	// Total is the whole tick, from the call to its return.
	Total time.Duration
	// Batches are the batches' spans: from the first config a batch
	// hands out to the first of the next (the last one's to the return),
	// each one transaction.
	Batches []time.Duration
}

// MeasureTick fills s with n accounts in one tenant, each with a config
// that has a scheduled workflow on, calls prepare (an engine's ANALYZE),
// and fires ticks of the workflow, timing each: not a contract case but
// the figures docs/RELIABILITY.md quotes, run by hand (the engines'
// TestTickTiming, with LINKD_TICK_CONFIGS set).
func MeasureTick(t *testing.T, s linkd.Store, n, ticks int, prepare func()) []TickTiming {
	svc, tn := dbtest.Accounts(t, s)
	workflow := "timing"
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("acct-%06d", i)
				name := "Account " + id
				if _, err := svc.Create(t.Context(), tn, "t", linkd.AccountInput{AccountID: id, Name: &name}); err != nil {
					t.Error(err)
					continue
				}
				_, _, err := s.PutConfig(t.Context(), tn, id, "slack", id, func(acct *linkd.LinkedAccount, _ bool, _ *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
					now := linkd.StoreTime(time.Now())
					return &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: "slack", ConfigID: id, CreatedAt: now, UpdatedAt: now,
						Workflows: []linkd.WorkflowState{{ID: workflow, Enabled: true, CreatedAt: now, UpdatedAt: now}}}, nil, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if prepare != nil {
		prepare()
	}
	var out []TickTiming
	slot := linkd.StoreTime(time.Now()).Truncate(time.Hour)
	for k := range ticks {
		var starts []time.Time
		i := 0
		begin := time.Now()
		f, err := s.QueueScheduledRuns(t.Context(), linkd.ScheduledTick{Name: fmt.Sprint(workflow, k), Slot: slot, Owner: "i1", Slug: "slack", WorkflowID: workflow, Batch: tickTimingBatch},
			func(c linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error) {
				if i%tickTimingBatch == 0 {
					starts = append(starts, time.Now())
				}
				i++
				now := linkd.StoreTime(time.Now())
				return &linkd.Execution{Tenant: c.Tenant, ID: linkd.NewID(), AccountID: c.AccountID, Slug: "slack", ConfigID: c.ConfigID,
						WorkflowID: workflow, Source: linkd.SourceSchedule, Type: linkd.ExecAsync, Status: linkd.ExecRunning,
						Payload: json.RawMessage(`{}`), NextAt: now.Add(time.Hour), Deadline: now.Add(2 * time.Hour), CreatedAt: now, UpdatedAt: now},
					&linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "schedule", Action: linkd.AuditScheduleFired, AccountID: c.AccountID}, nil
			})
		end := time.Now()
		if err != nil || !f.Won || f.Queued != n {
			t.Fatalf("tick %d: %+v, %v; want %d runs", k, f, err, n)
		}
		tt := TickTiming{Total: end.Sub(begin)}
		for j, st := range starts {
			next := end
			if j+1 < len(starts) {
				next = starts[j+1]
			}
			tt.Batches = append(tt.Batches, next.Sub(st))
		}
		out = append(out, tt)
	}
	return out
}

// tickTimingBatch is the batch the ticks MeasureTick fires go in, the
// default's size.
const tickTimingBatch = linkd.TickBatch

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Longest returns the longest of ds.
func Longest(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
