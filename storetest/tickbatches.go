package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// tickFixture is a scheduled workflow of one test's own (a tick sees every
// tenant's configs) switched on in configs across tenants.
type tickFixture struct {
	e        *env
	workflow string
	tenants  []linkd.Tenant
	// want is every config that has the workflow on: "org/env/account/config".
	want map[string]bool
}

// newTickFixture makes n accounts in each of three tenants (two
// environments of the test's org, and another org), each with a config
// that has the workflow on and, every third account, a second config and
// a third with it off: the key order crosses tenants and accounts.
func newTickFixture(t *testing.T, e *env, n int) *tickFixture {
	t.Helper()
	other := e.newOrg(t, "tick")
	f := &tickFixture{e: e, workflow: "tick-" + linkd.NewID()[24:], want: map[string]bool{},
		tenants: []linkd.Tenant{e.t, {OrgID: e.org.ID, Env: linkd.EnvProduction}, {OrgID: other.ID, Env: linkd.EnvTest}}}
	for _, tn := range f.tenants {
		for i := range n {
			id := fmt.Sprintf("acct-%03d", i)
			e.create(t, tn, id, "Account "+id, nil)
			configs := map[string]bool{id: true}
			if i%3 == 0 {
				configs[id+"-b"], configs[id+"-off"] = true, false
			}
			for cfg, on := range configs {
				_, _, err := e.store.PutConfig(e.ctx, tn, id, "slack", cfg, func(acct *linkd.LinkedAccount, _ bool, _ *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
					now := linkd.StoreTime(time.Now())
					return &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: "slack", ConfigID: cfg, CreatedAt: now, UpdatedAt: now,
						Workflows: []linkd.WorkflowState{{ID: f.workflow, Enabled: on, CreatedAt: now, UpdatedAt: now}}}, nil, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if on {
					f.want[tn.OrgID+"/"+string(tn.Env)+"/"+id+"/"+cfg] = true
				}
			}
		}
	}
	return f
}

// tick returns a tick of the fixture's workflow for slot by owner.
func (f *tickFixture) tick(slot time.Time, owner string, batch int) linkd.ScheduledTick {
	return linkd.ScheduledTick{Name: f.workflow, Slot: slot, Owner: owner, Slug: "slack", WorkflowID: f.workflow, Batch: batch}
}

// run builds a config's run, its payload naming the period; failAt, when
// not nil, is asked first with the number of configs handed out so far
// and fails the run when true.
func (f *tickFixture) run(failAt func(i int) bool) func(linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error) {
	i := 0
	return func(c linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error) {
		i++
		if failAt != nil && failAt(i) {
			return nil, nil, errors.New("the instance dies")
		}
		now := linkd.StoreTime(time.Now())
		payload, _ := json.Marshal(map[string]string{"slot": c.Slot.UTC().Format(time.RFC3339)})
		return &linkd.Execution{Tenant: c.Tenant, ID: linkd.NewID(), AccountID: c.AccountID, Slug: "slack", ConfigID: c.ConfigID,
				WorkflowID: f.workflow, Source: linkd.SourceSchedule, Type: linkd.ExecAsync, Status: linkd.ExecRunning,
				Payload: payload, NextAt: now.Add(time.Hour), Deadline: now.Add(2 * time.Hour), CreatedAt: now, UpdatedAt: now},
			&linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "schedule", Action: linkd.AuditScheduleFired, AccountID: c.AccountID}, nil
	}
}

// runs counts the workflow's runs of the period at slot per config, and
// the audit entries of the tick per account, across the tenants.
func (f *tickFixture) runs(t *testing.T, slot time.Time) (runs map[string]int, audit int) {
	t.Helper()
	runs = map[string]int{}
	want := slot.UTC().Format(time.RFC3339)
	for _, tn := range f.tenants {
		for page := 1; ; page++ {
			p, err := f.e.store.ListExecutions(f.e.ctx, tn, linkd.ExecutionFilter{WorkflowID: f.workflow, Page: page, Limit: linkd.MaxPageLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range p.Executions {
				var p struct{ Slot string }
				if err := json.Unmarshal(x.Payload, &p); err != nil {
					t.Fatal(err)
				}
				if p.Slot == want {
					runs[tn.OrgID+"/"+string(tn.Env)+"/"+x.AccountID+"/"+x.ConfigID]++
				}
			}
			if len(p.Executions) < linkd.MaxPageLimit {
				break
			}
		}
		for a := (linkd.AuditFilter{Limit: 500}); ; {
			entries, next, err := f.e.store.ListAudit(f.e.ctx, tn, a)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range entries {
				if ev.Action == linkd.AuditScheduleFired {
					audit++
				}
			}
			if next == "" {
				break
			}
			a.Cursor = next
		}
	}
	return runs, audit
}

// wantOnce fails unless every config with the workflow on has exactly
// one run of the period at slot, and no other config has one.
func (f *tickFixture) wantOnce(t *testing.T, slot time.Time) {
	t.Helper()
	runs, _ := f.runs(t, slot)
	for k := range f.want {
		if runs[k] != 1 {
			t.Errorf("config %s: %d runs of the period at %s, want 1", k, runs[k], slot.Format(time.TimeOnly))
		}
	}
	for k := range runs {
		if !f.want[k] {
			t.Errorf("config %s, whose workflow is off, has a run", k)
		}
	}
}

// testQueueScheduledRunsBatches: a tick over many times more configs than
// its batch, across tenants and accounts with several configs, queues
// one run for each config that has the workflow on, none twice; a second
// fire of the period, by any owner, queues nothing.
func testQueueScheduledRunsBatches(t *testing.T, e *env) {
	f := newTickFixture(t, e, 12) // 48 configs on, 3 to a batch
	slot := linkd.StoreTime(time.Now()).Truncate(time.Hour)
	got, err := e.store.QueueScheduledRuns(e.ctx, f.tick(slot, "i1", 3), f.run(nil))
	if err != nil || !got.Won || got.Queued != len(f.want) || !got.Busy.IsZero() {
		t.Fatalf("tick: %+v, %v; want %d runs, won", got, err, len(f.want))
	}
	f.wantOnce(t, slot)
	for _, owner := range []string{"i1", "i2"} {
		if got, err := e.store.QueueScheduledRuns(e.ctx, f.tick(slot, owner, 3), f.run(nil)); err != nil || got.Won || got.Queued != 0 || !got.Busy.IsZero() {
			t.Fatalf("the fired tick fired again by %s: %+v, %v", owner, got, err)
		}
	}
	f.wantOnce(t, slot)
	if _, audit := f.runs(t, slot); audit != len(f.want) {
		t.Fatalf("%d audit entries of the tick, want %d", audit, len(f.want))
	}
}

// testQueueScheduledRunsResume: a tick cut off in its second batch (its
// instance dies) keeps the runs of its first; another owner's fire
// neither claims nor resumes it while its lease lasts (it reports when
// the lease ends), and resumes it from its cursor once the lease ran out:
// each config then has one run. The owner itself resumes its own tick at
// once, and a fire of a later period finishes an earlier tick left so.
func testQueueScheduledRunsResume(t *testing.T, e *env) {
	f := newTickFixture(t, e, 5) // 21 configs on
	const batch = 6
	dies := func(i int) bool { return i == batch+2 }
	later := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	slot := linkd.StoreTime(time.Now()).Truncate(time.Hour).Add(-3 * time.Hour)

	// Cut off, then taken over after the lease.
	k := f.tick(slot, "i1", batch)
	k.Lease = time.Hour
	got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(dies))
	if err == nil || !got.Won || got.Queued != batch {
		t.Fatalf("a tick cut off in its second batch: %+v, %v; want won, %d runs and the error", got, err, batch)
	}
	if runs, audit := f.runs(t, slot); len(runs) != batch || audit != batch {
		t.Fatalf("after the first batch: %d configs with runs and %d audit entries, want %d", len(runs), audit, batch)
	}
	started := time.Now()
	got, err = e.store.QueueScheduledRuns(e.ctx, f.tick(slot, "i2", batch), f.run(nil))
	if err != nil || got.Won || got.Queued != 0 || got.Busy.Before(started.Add(50*time.Minute)) {
		t.Fatalf("another owner's fire during the lease: %+v, %v; want nothing queued, busy for about an hour", got, err)
	}
	if runs, _ := f.runs(t, slot); len(runs) != batch {
		t.Fatalf("another owner's fire during the lease queued runs: %d configs with runs, want %d", len(runs), batch)
	}
	k = f.tick(slot, "i2", batch)
	k.Now = later(2 * time.Hour)
	got, err = e.store.QueueScheduledRuns(e.ctx, k, f.run(nil))
	if err != nil || got.Won || got.Queued != len(f.want)-batch || !got.Busy.IsZero() {
		t.Fatalf("another owner's fire after the lease: %+v, %v; want the %d runs left", got, err, len(f.want)-batch)
	}
	f.wantOnce(t, slot)
	if _, audit := f.runs(t, slot); audit != len(f.want) {
		t.Fatalf("%d audit entries of the tick, want %d", audit, len(f.want))
	}
	k.Owner = "i3"
	if got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(nil)); err != nil || got.Won || got.Queued != 0 {
		t.Fatalf("the finished tick fired again: %+v, %v", got, err)
	}

	// Cut off, then resumed by its owner at once (its retry).
	slot = slot.Add(time.Hour)
	k = f.tick(slot, "i1", batch)
	k.Lease = time.Hour
	if got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(dies)); err == nil || got.Queued != batch {
		t.Fatalf("a second tick cut off: %+v, %v", got, err)
	}
	if got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(nil)); err != nil || got.Won || got.Queued != len(f.want)-batch {
		t.Fatalf("its owner's retry: %+v, %v; want the %d runs left", got, err, len(f.want)-batch)
	}
	f.wantOnce(t, slot)

	// Cut off, then finished by the next period's fire, after the lease.
	slot = slot.Add(time.Hour)
	k = f.tick(slot, "i1", batch)
	k.Lease = time.Minute
	if got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(dies)); err == nil || got.Queued != batch {
		t.Fatalf("a third tick cut off: %+v, %v", got, err)
	}
	next := f.tick(slot.Add(time.Hour), "i2", batch)
	next.Now = later(2 * time.Minute)
	got, err = e.store.QueueScheduledRuns(e.ctx, next, f.run(nil))
	if err != nil || !got.Won || got.Queued != 2*len(f.want)-batch {
		t.Fatalf("the next period's fire: %+v, %v; want it won and %d runs (its own and the %d left of the last)", got, err, 2*len(f.want)-batch, len(f.want)-batch)
	}
	f.wantOnce(t, slot)
	f.wantOnce(t, slot.Add(time.Hour))
}

// testQueueScheduledRunsTakeovers: owners firing one tick at once, with a
// lease so short that they take it from one another between batches,
// still queue one run per config: a batch commits only under the lease
// it checks, and a taker-over goes on from the cursor its transaction
// reads.
func testQueueScheduledRunsTakeovers(t *testing.T, e *env) {
	f := newTickFixture(t, e, 10) // 42 configs on
	slot := linkd.StoreTime(time.Now()).Truncate(time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var queued, won, conflicts int
	for i := range 4 {
		wg.Go(func() {
			k := f.tick(slot, fmt.Sprint("i", i), 2)
			k.Lease = time.Microsecond
			for range 1000 {
				got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(nil))
				mu.Lock()
				queued += got.Queued
				if got.Won {
					won++
				}
				if linkd.ErrorCode(err) == linkd.ECONFLICT {
					conflicts++
				}
				mu.Unlock()
				if err != nil && linkd.ErrorCode(err) != linkd.ECONFLICT {
					t.Error(err)
					return
				}
				if err == nil && got.Busy.IsZero() {
					return // done
				}
				time.Sleep(time.Millisecond)
			}
			t.Error("the tick never finished")
		})
	}
	wg.Wait()
	if won != 1 || queued != len(f.want) {
		t.Fatalf("%d claims won, %d runs queued; want 1 and %d", won, queued, len(f.want))
	}
	f.wantOnce(t, slot)
	t.Logf("%d fires cut off by another owner's takeover", conflicts)
}

// testQueueScheduledRunsDeleteMidTick: accounts deleted while a tick is
// cut off between batches keep no run: one whose run a committed batch
// queued loses it with the account, one the tick had not reached is not
// seen by the batches that resume it. Every other config gets its run.
func testQueueScheduledRunsDeleteMidTick(t *testing.T, e *env) {
	f := newTickFixture(t, e, 5) // 21 configs on, 7 in each tenant
	const batch = 6
	slot := linkd.StoreTime(time.Now()).Truncate(time.Hour)
	k := f.tick(slot, "i1", batch)
	got, err := e.store.QueueScheduledRuns(e.ctx, k, f.run(func(i int) bool { return i == batch+1 }))
	if err == nil || got.Queued != batch {
		t.Fatalf("a tick cut off after its first batch: %+v, %v", got, err)
	}
	// The key order puts one tenant's 7 configs first: acct-000 has two of
	// them (queued), acct-004 is the tenant's last (not reached). Which
	// tenant comes first depends on the ids.
	runs, _ := f.runs(t, slot)
	var first linkd.Tenant
	for _, tn := range f.tenants {
		if runs[tn.OrgID+"/"+string(tn.Env)+"/acct-000/acct-000"] == 1 {
			first = tn
		}
	}
	if first.OrgID == "" {
		t.Fatalf("no tenant's acct-000 was queued in the first batch: %v", runs)
	}
	for _, acct := range []string{"acct-000", "acct-004"} {
		if err := e.svc.Delete(e.ctx, first, "t", acct); err != nil {
			t.Fatal(err)
		}
		for cfg := range f.want {
			if cfg == first.OrgID+"/"+string(first.Env)+"/"+acct+"/"+acct || cfg == first.OrgID+"/"+string(first.Env)+"/"+acct+"/"+acct+"-b" {
				delete(f.want, cfg)
			}
		}
	}
	got, err = e.store.QueueScheduledRuns(e.ctx, k, f.run(nil))
	if err != nil || got.Queued != len(f.want)-(batch-2) {
		t.Fatalf("the tick resumed: %+v, %v; want %d runs", got, err, len(f.want)-(batch-2))
	}
	f.wantOnce(t, slot)
}
