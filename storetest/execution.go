package storetest

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func (e *env) execution(t *testing.T, tn linkd.Tenant, accountID, wf string, now time.Time) *linkd.Execution {
	t.Helper()
	return &linkd.Execution{Tenant: tn, ID: linkd.NewID(), AccountID: accountID, Slug: "stripe", ConfigID: accountID, WorkflowID: wf,
		WorkflowName: "W " + wf, EventID: linkd.NewID(), EventName: "Order Created", Source: linkd.SourceEvent, Type: linkd.ExecAsync,
		Status: linkd.ExecRunning, Payload: json.RawMessage(`{"order":{"id":"o-1"}}`), NextAt: now, Deadline: now.Add(time.Hour),
		CreatedAt: now, UpdatedAt: now}
}

func testExecutions(t *testing.T, e *env) {
	now := linkd.StoreTime(time.Now())
	e.create(t, e.t, "acme", "Acme", nil)
	x1, x2 := e.execution(t, e.t, "acme", "a", now), e.execution(t, e.t, "acme", "b", now.Add(time.Millisecond))
	var signals atomic.Int64
	e.store.OnWork(linkd.WorkExecutions, func() { signals.Add(1) })
	if err := e.store.QueueExecutions(e.ctx, e.t, "acme", nil, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "k",
		Action: linkd.AuditEventTrigger, AccountID: "acme"}); err != nil || signals.Load() != 0 {
		t.Fatalf("a trigger that queues nothing: %v, %d signals", err, signals.Load())
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "k", Action: linkd.AuditEventTrigger, AccountID: "acme"}
	if err := e.store.QueueExecutions(e.ctx, e.t, "acme", []*linkd.Execution{x1, x2}, ev); err != nil {
		t.Fatal(err)
	}
	if signals.Load() == 0 {
		t.Fatal("queued runs and returned without signalling the runner")
	}
	if x1.AccountPK == "" {
		t.Fatal("QueueExecutions did not set AccountPK")
	}
	wantCode(t, e.store.QueueExecutions(e.ctx, e.t, "nobody", []*linkd.Execution{e.execution(t, e.t, "nobody", "a", now)}, nil), linkd.ENOTFOUND)

	// Another tenant sees nothing and claims only its own.
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	if _, err := e.store.Execution(e.ctx, other, x1.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("other tenant reads the run: %v", err)
	}
	if p, err := e.store.ListExecutions(e.ctx, other, linkd.ExecutionFilter{}); err != nil || p.Total != 0 || len(p.Executions) != 0 {
		t.Fatalf("other tenant lists %+v, %v", p, err)
	}

	// A claim leases due runs once; a claim skipping the tenant gets none.
	c := linkd.Claim{Owner: "i1", Now: now.Add(time.Second), Lease: time.Minute, Limit: 10}
	skip := c
	skip.Skip = []linkd.Tenant{e.t}
	if got, err := e.store.ClaimExecutions(e.ctx, skip); err != nil || len(got) != 0 {
		t.Fatalf("claim skipping the tenant: %d, %v", len(got), err)
	}
	if q, err := e.store.ExecutionQueue(e.ctx, c.Now); err != nil || q.Due < 2 || q.OldestDue.After(now) {
		t.Fatalf("queue before the claim: %+v, %v", q, err)
	}
	got, err := e.store.ClaimExecutions(e.ctx, c)
	if err != nil || len(got) != 2 || got[0].ID != x1.ID || got[0].LeaseOwner != "i1" || string(got[0].Payload) == "" {
		t.Fatalf("claim: %+v, %v", got, err)
	}
	c2 := c
	c2.Owner = "i2"
	if again, err := e.store.ClaimExecutions(e.ctx, c2); err != nil || len(again) != 0 {
		t.Fatalf("leased runs claimed again: %d, %v", len(again), err)
	}
	if q, err := e.store.ExecutionQueue(e.ctx, c.Now); err != nil || q.Running < 2 {
		t.Fatalf("queue after the claim: %+v, %v", q, err)
	}
	wantCode(t, e.store.HeartbeatExecution(e.ctx, got[0], "i2", now.Add(time.Hour)), linkd.ECONFLICT)
	if err := e.store.HeartbeatExecution(e.ctx, got[0], "i1", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Advance: a node and the run's progress, holding the lease.
	r := got[0]
	started := now.Add(time.Second)
	r.Step, r.Attempt, r.StartedAt, r.UpdatedAt = 1, 0, &started, started
	node := &linkd.ExecutionNode{Index: 0, StepID: "post", Type: "http", Status: linkd.NodeSuccess, Attempts: 1, MaxAttempts: 3,
		Input: json.RawMessage(`{"method":"POST"}`), Output: json.RawMessage(`{"status":200}`), StartedAt: started, UpdatedAt: started}
	if st, err := e.store.AdvanceExecution(e.ctx, "i1", r, node, true, nil); err != nil || st != linkd.ExecRunning {
		t.Fatalf("advance: %q, %v", st, err)
	}
	if _, err := e.store.AdvanceExecution(e.ctx, "i2", r, nil, true, nil); linkd.ErrorCode(err) != linkd.ECONFLICT {
		t.Fatalf("advance by another owner: %v", err)
	}
	// A stop while leased is STOPPING, and wins over RUNNING.
	stopped, err := e.store.StopExecution(e.ctx, e.t, r.ID, now.Add(2*time.Second), func(x *linkd.Execution, leased bool) (string, *linkd.AuditEntry, error) {
		if !leased {
			t.Error("a leased run is reported not leased")
		}
		return linkd.ExecStopping, nil, nil
	})
	if err != nil || stopped.Status != linkd.ExecStopping {
		t.Fatalf("stop: %+v, %v", stopped, err)
	}
	if st, err := e.store.AdvanceExecution(e.ctx, "i1", r, nil, true, nil); err != nil || st != linkd.ExecStopping {
		t.Fatalf("advance after a stop: %q, %v", st, err)
	}
	// Ending it releases the lease and records the end.
	end := now.Add(3 * time.Second)
	r.Status, r.FinishedAt, r.ReturnValue = linkd.ExecStopped, &end, json.RawMessage(`{"x":1}`)
	ended := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventWorkflowStopped, AccountID: "acme", CreatedAt: end}
	if st, err := e.store.AdvanceExecution(e.ctx, "i1", r, nil, false, &linkd.AuditEntry{ID: linkd.NewID(), Time: end, Actor: "runner",
		Action: "execution.end", AccountID: "acme", Events: []*linkd.Event{ended}}); err != nil || st != linkd.ExecStopped {
		t.Fatalf("end: %q, %v", st, err)
	}
	full, err := e.store.Execution(e.ctx, e.t, r.ID)
	if err != nil || full.Status != linkd.ExecStopped || full.LeaseOwner != "" || full.FinishedAt == nil || !full.FinishedAt.Equal(end) ||
		len(full.Nodes) != 1 || full.Nodes[0].StepID != "post" || string(full.ReturnValue) != `{"x": 1}` && string(full.ReturnValue) != `{"x":1}` {
		t.Fatalf("execution: %+v (nodes %d), %v", full, len(full.Nodes), err)
	}
	// An ended run is not claimed, and a stop leaves it as it is.
	if _, err := e.store.ClaimExecution(e.ctx, e.t, r.ID, c); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("claim an ended run: %v", err)
	}
	if x, err := e.store.StopExecution(e.ctx, e.t, r.ID, end, func(*linkd.Execution, bool) (string, *linkd.AuditEntry, error) {
		t.Error("stop called fn for an ended run")
		return "", nil, nil
	}); err != nil || x.Status != linkd.ExecStopped {
		t.Fatalf("stop an ended run: %+v, %v", x, err)
	}

	// A run not leased stops at once.
	other2 := got[1]
	other2.NextAt, other2.UpdatedAt = now.Add(time.Hour), now
	if _, err := e.store.AdvanceExecution(e.ctx, "i1", other2, nil, false, nil); err != nil {
		t.Fatal(err)
	}
	x, err := e.store.StopExecution(e.ctx, e.t, other2.ID, now.Add(time.Second), func(_ *linkd.Execution, leased bool) (string, *linkd.AuditEntry, error) {
		if leased {
			t.Error("a released run is reported leased")
		}
		return linkd.ExecStopped, nil, nil
	})
	if err != nil || x.Status != linkd.ExecStopped || x.FinishedAt == nil {
		t.Fatalf("stop a waiting run: %+v, %v", x, err)
	}

	// Lists filter and page.
	x3 := e.execution(t, e.t, "acme", "a", now.Add(2*time.Millisecond))
	x3.Type, x3.NextAt = linkd.ExecSync, now.Add(time.Hour)
	if err := e.store.QueueExecutions(e.ctx, e.t, "acme", []*linkd.Execution{x3}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{WorkflowID: "a", Limit: 1})
	if err != nil || p.Total != 2 || len(p.Executions) != 1 || p.Executions[0].ID != x3.ID {
		t.Fatalf("list by workflow: %+v, %v", p, err)
	}
	p, err = e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{Status: linkd.ExecStopped, Slugs: []string{"stripe"}, Ascending: true})
	if err != nil || p.Total != 2 || p.Executions[0].ID != x1.ID {
		t.Fatalf("list by status: %+v, %v", p, err)
	}
	// A run due later is claimed by id (a synchronous run).
	if got, err := e.store.ClaimExecution(e.ctx, e.t, x3.ID, c); err != nil || got.ID != x3.ID {
		t.Fatalf("claim by id: %+v, %v", got, err)
	}
	if _, err := e.store.ClaimExecution(e.ctx, other, x3.ID, c); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("claim by id in another tenant: %v", err)
	}

	// Runs that ended before the retention go, with their nodes; others
	// stay.
	if n, err := e.store.PurgeExecutions(e.ctx, end.Add(time.Microsecond)); err != nil || n < 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := e.store.Execution(e.ctx, e.t, r.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a purged run: %v", err)
	}
	if _, err := e.store.Execution(e.ctx, e.t, x3.ID); err != nil {
		t.Fatalf("a running run was purged: %v", err)
	}

	// Deleting the account deletes its runs, payloads and nodes.
	if err := e.svc.Delete(e.ctx, e.t, "k", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Execution(e.ctx, e.t, x1.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("run of a deleted account: %v", err)
	}
	if p, err := e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{}); err != nil || p.Total != 0 {
		t.Fatalf("runs after delete: %+v, %v", p, err)
	}
}

// testQueueScheduledRuns: a tick queues one run per config with the
// workflow switched on, each with
// its audit entry; the same tick claimed again, by any owner, queues
// nothing, and ClaimTick sees it taken.
func testQueueScheduledRuns(t *testing.T, e *env) {
	e.create(t, e.t, "acme", "Acme", nil)
	e.create(t, e.t, "globex", "Globex", nil)
	put := func(account, id string, on bool) {
		_, _, err := e.store.PutConfig(e.ctx, e.t, account, "slack", account, func(acct *linkd.LinkedAccount, _ bool, cur *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
			now := linkd.StoreTime(time.Now())
			return &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: "slack", ConfigID: account, CreatedAt: now, UpdatedAt: now,
				Workflows: []linkd.WorkflowState{{ID: id, Enabled: on, CreatedAt: now, UpdatedAt: now}}}, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("acme", "sync-users", true)
	put("globex", "sync-users", false)
	// The tick's name is the test's own: the store is shared with other
	// tests, whose tenants' configs a tick also sees.
	name, slot := "sync-users:"+linkd.NewID(), linkd.StoreTime(time.Now()).Truncate(time.Hour)
	var mine []linkd.ScheduledConfig
	fire := func(owner string) (int, bool) {
		t.Helper()
		f, err := e.store.QueueScheduledRuns(e.ctx, linkd.ScheduledTick{Name: name, Slot: slot, Owner: owner, Slug: "slack", WorkflowID: "sync-users"},
			func(c linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error) {
				now := linkd.StoreTime(time.Now())
				if c.Tenant == e.t {
					mine = append(mine, c)
				}
				return &linkd.Execution{Tenant: c.Tenant, ID: linkd.NewID(), AccountID: c.AccountID, Slug: "slack", ConfigID: c.ConfigID,
						WorkflowID: "sync-users", Source: linkd.SourceSchedule, Type: linkd.ExecAsync, Status: linkd.ExecRunning,
						Payload: json.RawMessage(`{}`), NextAt: now, Deadline: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now},
					&linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "schedule", Action: linkd.AuditScheduleFired, AccountID: c.AccountID}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return f.Queued, f.Won
	}
	if n, won := fire("i1"); !won || n < 1 {
		t.Fatalf("first claim: %d runs, won %t", n, won)
	}
	if len(mine) != 1 || mine[0].AccountID != "acme" || mine[0].ConfigID != "acme" || mine[0].AccountPK == "" {
		t.Fatalf("scheduled configs: %+v", mine)
	}
	p, err := e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{WorkflowID: "sync-users"})
	if err != nil || p.Total != 1 || p.Executions[0].AccountID != "acme" || p.Executions[0].Source != linkd.SourceSchedule {
		t.Fatalf("runs queued: %+v, %v", p, err)
	}
	if n, won := fire("i2"); won || n != 0 {
		t.Fatalf("the tick claimed again: %d runs, won %t", n, won)
	}
	if won, err := e.store.ClaimTick(e.ctx, name, slot, "i3"); err != nil || won {
		t.Fatalf("ClaimTick of a fired tick: won %t, %v", won, err)
	}
	if p, err := e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{WorkflowID: "sync-users"}); err != nil || p.Total != 1 {
		t.Fatalf("runs after the second claim: %+v, %v", p, err)
	}
}

// testQueueScheduledRunsMany: a tick over more configs than the store
// sends to the server at once (PostgreSQL batches them) queues one run and
// one audit entry for each, none twice.
func testQueueScheduledRunsMany(t *testing.T, e *env) {
	const n = 1003
	// A workflow of this test's own: a tick sees every tenant's configs.
	workflow := "many-" + linkd.NewID()[24:]
	for i := range n {
		id := fmt.Sprintf("acct-%04d", i)
		e.create(t, e.t, id, "Account "+id, nil)
		_, _, err := e.store.PutConfig(e.ctx, e.t, id, "slack", id, func(acct *linkd.LinkedAccount, _ bool, cur *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
			now := linkd.StoreTime(time.Now())
			return &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: "slack", ConfigID: id, CreatedAt: now, UpdatedAt: now,
				Workflows: []linkd.WorkflowState{{ID: workflow, Enabled: true, CreatedAt: now, UpdatedAt: now}}}, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	f, err := e.store.QueueScheduledRuns(e.ctx, linkd.ScheduledTick{Name: workflow, Slot: linkd.StoreTime(time.Now()).Truncate(time.Hour), Owner: "i1", Slug: "slack", WorkflowID: workflow},
		func(c linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error) {
			if seen[c.AccountID] {
				t.Errorf("config of %s handed out twice", c.AccountID)
			}
			seen[c.AccountID] = true
			now := linkd.StoreTime(time.Now())
			return &linkd.Execution{Tenant: c.Tenant, ID: linkd.NewID(), AccountID: c.AccountID, Slug: "slack", ConfigID: c.ConfigID,
					WorkflowID: workflow, Source: linkd.SourceSchedule, Type: linkd.ExecAsync, Status: linkd.ExecRunning,
					Payload: json.RawMessage(`{}`), NextAt: now.Add(time.Hour), Deadline: now.Add(2 * time.Hour), CreatedAt: now, UpdatedAt: now},
				&linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "schedule", Action: linkd.AuditScheduleFired, AccountID: c.AccountID}, nil
		})
	got, won := f.Queued, f.Won
	if err != nil || !won || got != n || len(seen) != n {
		t.Fatalf("tick: %d runs of %d configs handed out, won %t, %v; want %d", got, len(seen), won, err, n)
	}
	p, err := e.store.ListExecutions(e.ctx, e.t, linkd.ExecutionFilter{WorkflowID: workflow, Limit: 1})
	if err != nil || p.Total != n {
		t.Fatalf("runs queued: %d, %v; want %d", p.Total, err, n)
	}
	fired := map[string]bool{}
	for f := (linkd.AuditFilter{Limit: 500}); ; {
		entries, next, err := e.store.ListAudit(e.ctx, e.t, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range entries {
			if ev.Action == linkd.AuditScheduleFired {
				if fired[ev.AccountID] {
					t.Errorf("two audit entries of the tick for %s", ev.AccountID)
				}
				fired[ev.AccountID] = true
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if len(fired) != n {
		t.Fatalf("audit entries of the tick: %d; want %d", len(fired), n)
	}
}

func testEventDefs(t *testing.T, e *env) {
	now := linkd.StoreTime(time.Now())
	d := &linkd.EventDef{ID: linkd.NewID(), Name: "Order Created", Response: json.RawMessage(`{"order":{"id":"1"}}`), CreatedAt: now, UpdatedAt: now}
	if err := e.store.PutEventDef(e.ctx, e.t, d, true, nil); err != nil {
		t.Fatal(err)
	}
	dup := *d
	dup.ID = linkd.NewID()
	wantCode(t, e.store.PutEventDef(e.ctx, e.t, &dup, true, nil), linkd.EEXISTS)
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if err := e.store.PutEventDef(e.ctx, other, &dup, true, nil); err != nil {
		t.Fatalf("the same name in another environment: %v", err)
	}
	got, err := e.store.EventDef(e.ctx, e.t, "Order Created", true)
	if err != nil || got.ID != d.ID || !got.CreatedAt.Equal(now) {
		t.Fatalf("by name: %+v, %v", got, err)
	}
	if _, err := e.store.EventDef(e.ctx, other, d.ID, false); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another tenant reads it by id: %v", err)
	}
	upd := *d
	upd.Name, upd.UpdatedAt = "Order Placed", now.Add(time.Second)
	if err := e.store.PutEventDef(e.ctx, e.t, &upd, false, nil); err != nil || !upd.CreatedAt.Equal(now) {
		t.Fatalf("update: %v (created %s)", err, upd.CreatedAt)
	}
	missing := upd
	missing.ID = linkd.NewID()
	wantCode(t, e.store.PutEventDef(e.ctx, e.t, &missing, false, nil), linkd.ENOTFOUND)
	list, err := e.store.EventDefs(e.ctx, e.t)
	if err != nil || len(list) != 1 || list[0].Name != "Order Placed" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	wantCode(t, e.store.DeleteEventDef(e.ctx, other, d.ID, nil), linkd.ENOTFOUND)
	if err := e.store.DeleteEventDef(e.ctx, e.t, d.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.store.DeleteEventDef(e.ctx, e.t, d.ID, nil), linkd.ENOTFOUND)
	wantCode(t, e.store.DeleteEventDef(e.ctx, e.t, "not-an-id", nil), linkd.ENOTFOUND)
}
