// Package workflow runs workflow executions: the steps the app catalog
// declares, against the connected app through the proxy core, one step at
// a time. An execution is a row leased through package worker, so any
// instance runs any execution; each step's outcome is committed before the
// next step starts, so a crash resumes at the step that was running (at
// least once per step; http steps carry an Idempotency-Key derived from
// the execution and the step). A retry is the row due again later, never a
// sleep; a stop is honoured between steps.
package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/tmpl"
	"github.com/linkd-dev/linkd/worker"
)

// Defaults of a Runner.
const (
	// DefaultMaxBody caps what one http step reads of the app's answers
	// (all pages together): a step's output is stored and read by the
	// steps after it.
	DefaultMaxBody = 1 << 20
	// DefaultTenantCap is how many runs of one tenant run at once on one
	// instance, so one tenant's flood cannot starve the others.
	DefaultTenantCap = 4
	// MaxRetryWait bounds a Retry-After the app asks for.
	MaxRetryWait = time.Hour
)

// Store is what the runner reads and writes.
type Store interface {
	linkd.ExecutionStore
	Configs(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.LinkedAccount, []*linkd.AppConfig, error)
}

// Options configure a Runner.
type Options struct {
	Catalog linkd.Catalog
	// Caller calls the apps (proxy.Caller): credentials, refresh on 401,
	// SSRF guard.
	Caller linkd.AppCaller
	// Metadata returns a connection's metadata (connection.metadata in
	// templates), e.g. from connect.Service.Credentials; nil for none.
	Metadata func(ctx context.Context, t linkd.Tenant, accountID, slug string) (map[string]string, error)
	MaxBody  int64
	// Observe, when set, is told about every step attempt once its
	// outcome is committed, and Ended about every run that ended: for
	// metrics (executions by workflow and status, step latency).
	Observe func(StepObservation)
	Ended   func(e *linkd.Execution)
	// Now is the clock (time.Now by default); tests move it.
	Now    func() time.Time
	Logger *slog.Logger
}

// StepObservation is one step attempt as metrics see it.
type StepObservation struct {
	Tenant                         linkd.Tenant
	Slug, WorkflowID, StepID, Kind string
	// Status is the node's status after the attempt (Success, Waiting,
	// Errored, Rejected, Timed_Out).
	Status   string
	Duration time.Duration
}

// Runner runs executions.
type Runner struct {
	store Store
	opts  Options
	owner string
	lease time.Duration // the loop's, for runs claimed by id too
	loop  *worker.Loop[*linkd.Execution]
	log   *slog.Logger
}

// NewRunner returns a runner over store. wo.Owner names this instance;
// wo.Lease (worker.DefaultLease when zero) is how long a run is held
// between heartbeats, and a synchronous run too; wo.TenantCap defaults to
// DefaultTenantCap and wo.Concurrency to 8.
func NewRunner(store Store, o Options, wo worker.Options) *Runner {
	wo.Name = "workflows"
	wo.Lease = cmp.Or(wo.Lease, worker.DefaultLease)
	wo.TenantCap = cmp.Or(wo.TenantCap, DefaultTenantCap)
	wo.Concurrency = cmp.Or(wo.Concurrency, 8)
	if o.Now == nil {
		o.Now = time.Now
	}
	wo.Clock = o.Now
	o.MaxBody = cmp.Or(o.MaxBody, DefaultMaxBody)
	r := &Runner{store: store, opts: o, owner: wo.Owner, lease: wo.Lease, log: cmp.Or(o.Logger, slog.New(slog.DiscardHandler))}
	r.loop = worker.New(wo, worker.Source[*linkd.Execution]{
		Claim: store.ClaimExecutions,
		Run:   r.run,
		Heartbeat: func(ctx context.Context, e *linkd.Execution, until time.Time) error {
			return store.HeartbeatExecution(ctx, e, r.owner, until)
		},
		Tenant: linkd.ExecutionTenant,
	})
	return r
}

// Run runs executions until ctx ends.
func (r *Runner) Run(ctx context.Context) { r.loop.Run(ctx) }

// Wake makes the runner look for due executions now.
func (r *Runner) Wake() { r.loop.Wake() }

// Drain runs due executions until none is due (tests, benchmarks).
func (r *Runner) Drain(ctx context.Context) (int, error) { return r.loop.Drain(ctx) }

// RunSync runs the execution id (a synchronous run, queued due later so
// that no other instance starts it) here and now, and returns it as it
// ended, or as it is when limit passes first (it goes on in the
// background, under its lease). A step that failed and waits for a retry
// within the limit is waited for too: the loop runs the retry when it is
// due (wait wakes it), or another instance does, and the caller gets the
// run as it ended rather than RUNNING after the first attempt. A retry due
// after the limit is not waited for.
func (r *Runner) RunSync(ctx context.Context, t linkd.Tenant, id string, limit time.Duration) (*linkd.Execution, error) {
	now := linkd.StoreTime(r.opts.Now())
	deadline := now.Add(limit)
	e, err := r.store.ClaimExecution(ctx, t, id, linkd.Claim{Owner: r.owner, Now: now, Lease: r.lease, Limit: 1})
	if err != nil {
		return nil, err
	}
	current := func() (*linkd.Execution, error) { return r.store.Execution(context.WithoutCancel(ctx), t, id) }
	done := make(chan error, 1)
	go func() { done <- r.loop.Work(context.WithoutCancel(ctx), e) }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			r.log.Error("synchronous execution", "execution", id, "err", err)
		}
	case <-timer.C:
		return current()
	case <-ctx.Done():
		return current()
	}
	for {
		cur, err := current()
		if err != nil || linkd.ExecFinished(cur.Status) || cur.LeaseOwner == "" && cur.NextAt.After(deadline) {
			return cur, err
		}
		select {
		case <-time.After(syncPoll):
		case <-timer.C:
			return current()
		case <-ctx.Done():
			return current()
		}
	}
}

// syncPoll is how often RunSync looks at a synchronous run waiting for a
// retry until it ends.
const syncPoll = 50 * time.Millisecond

// run runs one claimed execution from its current step until it ends,
// waits for a retry, or is stopped.
func (r *Runner) run(ctx context.Context, e *linkd.Execution) error {
	x := &execution{r: r, e: e}
	err := x.run(ctx)
	if linkd.ErrorCode(err) == linkd.ECONFLICT {
		// Another instance took the run over after our lease ran out: it
		// goes on there.
		return nil
	}
	return err
}

// execution is one run in progress on this instance.
type execution struct {
	r    *Runner
	e    *linkd.Execution
	data map[string]any // the steps' namespaces
	app  *linkd.App
	wf   *linkd.Workflow
}

func (x *execution) now() time.Time { return linkd.StoreTime(x.r.opts.Now()) }

func (x *execution) run(ctx context.Context) error {
	e := x.e
	if e.Status == linkd.ExecStopping {
		return x.finish(ctx, linkd.ExecStopped, nil, "")
	}
	app, ok := x.r.opts.Catalog.App(e.Slug)
	if ok {
		for i := range app.Workflows {
			if app.Workflows[i].ID == e.WorkflowID {
				x.wf = &app.Workflows[i]
			}
		}
	}
	x.app = app
	if x.wf == nil {
		return x.finish(ctx, linkd.ExecErrored, nil, fmt.Sprintf("workflow %s of %s is no longer in the app catalog", e.WorkflowID, e.Slug))
	}
	if err := x.load(ctx); err != nil {
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			return x.finish(ctx, linkd.ExecErrored, nil, err.Error())
		}
		return err
	}
	if e.StartedAt == nil {
		now := x.now()
		e.StartedAt = &now
	}
	steps := x.wf.Steps
	for e.Step < len(steps) {
		if ctx.Err() != nil {
			return ctx.Err() // the lease runs out; the run resumes here
		}
		now := x.now()
		st := steps[e.Step]
		if !now.Before(e.Deadline) {
			node := x.node(st, now)
			node.Status, node.Error = linkd.NodeTimedOut, "the run's time ran out"
			return x.finish(ctx, linkd.ExecTimedOut, node, fmt.Sprintf("the run took longer than its timeout (%s)", x.wf.RunTimeout))
		}
		status, err := x.step(ctx, st, now)
		if err != nil {
			return err
		}
		switch status {
		case linkd.ExecStopping:
			return x.finish(ctx, linkd.ExecStopped, nil, "")
		case "":
		default:
			return nil // ended, or due again later
		}
	}
	return x.finish(ctx, linkd.ExecCompleted, nil, "")
}

// load fills the steps' data: the event, the config's fields (the app's
// and the workflow's), the account, the connection's metadata and the
// outputs of the steps that ran already.
func (x *execution) load(ctx context.Context) error {
	e := x.e
	acct, configs, err := x.r.store.Configs(ctx, e.Tenant, e.AccountID, e.Slug)
	if err != nil {
		return err
	}
	var cfg *linkd.AppConfig
	for _, c := range configs {
		if c.ConfigID == e.ConfigID {
			cfg = c
		}
	}
	if cfg == nil {
		return &linkd.Error{Code: linkd.ENOTFOUND, Message: fmt.Sprintf("config %s of %s was deleted", e.ConfigID, e.Slug)}
	}
	config := map[string]any{}
	merge := func(fields map[string]json.RawMessage) {
		for k, v := range fields {
			var val any
			if json.Unmarshal(v, &val) == nil {
				config[k] = val
			}
		}
	}
	merge(cfg.Fields)
	if st := cfg.Workflow(e.WorkflowID); st != nil {
		merge(st.Fields)
	}
	udf := map[string]any{}
	for _, u := range acct.UDF {
		var v any
		if json.Unmarshal(u.Value, &v) == nil {
			udf[u.Key] = v
		}
	}
	var event any = map[string]any{}
	if len(e.Payload) > 0 {
		if err := json.Unmarshal(e.Payload, &event); err != nil {
			return fmt.Errorf("execution %s: payload: %w", e.ID, err)
		}
	}
	meta := map[string]any{}
	if x.r.opts.Metadata != nil && x.app.AuthType == linkd.AuthOAuth2 && x.app.OAuth != nil && len(x.app.OAuth.Metadata) > 0 {
		if m, err := x.r.opts.Metadata(ctx, e.Tenant, e.AccountID, e.Slug); err == nil {
			for k, v := range m {
				meta[k] = v
			}
		}
	}
	steps := map[string]any{}
	full, err := x.r.store.Execution(ctx, e.Tenant, e.ID)
	if err != nil {
		return err
	}
	for _, n := range full.Nodes {
		if n.Index >= e.Step {
			continue
		}
		var out any
		if len(n.Output) > 0 {
			json.Unmarshal(n.Output, &out)
		}
		m, _ := out.(map[string]any)
		if m == nil {
			m = map[string]any{} // a skipped step: nothing to read
		}
		steps[n.StepID] = m
	}
	x.data = map[string]any{
		"event":          event,
		"config":         config,
		"linked_account": map[string]any{"id": acct.AccountID, "name": acct.Name, "udf": udf},
		"connection":     map[string]any{"metadata": meta},
		"steps":          steps,
	}
	return nil
}

func (x *execution) node(st *linkd.WorkflowStep, now time.Time) *linkd.ExecutionNode {
	max := 1
	if st.Kind == "http" {
		max = st.Policy.Attempts
	}
	return &linkd.ExecutionNode{Index: x.e.Step, StepID: st.ID, Type: st.Kind, Status: linkd.NodeReady, Attempts: x.e.Attempt,
		MaxAttempts: max, StartedAt: now, UpdatedAt: now}
}

// step runs one step and commits its outcome. It returns the status the
// run is in now: "" to go on with the next step, STOPPING when a stop came
// in, anything else when the run ended or waits for a retry.
func (x *execution) step(ctx context.Context, st *linkd.WorkflowStep, now time.Time) (string, error) {
	e := x.e
	node := x.node(st, now)
	if st.Guard != nil {
		v, err := st.Guard(x.data)
		if err != nil {
			node.Status, node.Error = linkd.NodeErrored, "when: "+err.Error()
			return linkd.ExecErrored, x.finish(ctx, linkd.ExecErrored, node, fmt.Sprintf("step %s: when: %v", st.ID, err))
		}
		if v != true {
			node.Status, node.Output = linkd.NodeRejected, json.RawMessage(`null`)
			x.steps()[st.ID] = map[string]any{}
			return x.advance(ctx, node)
		}
	}
	switch st.Kind {
	case "set":
		body := map[string]any{}
		for name, fn := range st.Values {
			v, err := fn(x.data)
			if err != nil {
				node.Status, node.Error = linkd.NodeErrored, fmt.Sprintf("set %s: %v", name, err)
				return linkd.ExecErrored, x.finish(ctx, linkd.ExecErrored, node, fmt.Sprintf("step %s: %s", st.ID, node.Error))
			}
			body[name] = v
		}
		return x.succeed(ctx, st, node, map[string]any{"body": body})
	case "return":
		v, err := tmpl.RenderTree(st.Return, x.data)
		if err != nil {
			node.Status, node.Error = linkd.NodeErrored, err.Error()
			return linkd.ExecErrored, x.finish(ctx, linkd.ExecErrored, node, fmt.Sprintf("step %s: %v", st.ID, err))
		}
		ret, err := marshal(v)
		if err != nil {
			return "", err
		}
		e.ReturnValue = ret
		node.Status, node.Output, node.Attempts = linkd.NodeSuccess, ret, 1
		return linkd.ExecCompleted, x.finish(ctx, linkd.ExecCompleted, node, "")
	}
	return x.http(ctx, st, node)
}

func (x *execution) steps() map[string]any { return x.data["steps"].(map[string]any) }

// succeed records a step's output and moves to the next step.
func (x *execution) succeed(ctx context.Context, st *linkd.WorkflowStep, node *linkd.ExecutionNode, out map[string]any) (string, error) {
	raw, err := marshal(out)
	if err != nil {
		return "", err
	}
	node.Status, node.Output, node.Attempts, node.Error = linkd.NodeSuccess, raw, x.e.Attempt+1, ""
	x.steps()[st.ID] = out
	return x.advance(ctx, node)
}

// advance commits node and moves the run to its next step, keeping the
// lease; it returns "" or STOPPING.
func (x *execution) advance(ctx context.Context, node *linkd.ExecutionNode) (string, error) {
	e := x.e
	e.Step, e.Attempt, e.UpdatedAt = e.Step+1, 0, x.now()
	node.UpdatedAt = e.UpdatedAt
	status, err := x.r.store.AdvanceExecution(ctx, x.r.owner, e, node, true, nil)
	if err != nil {
		return "", err
	}
	x.observe(node)
	if status == linkd.ExecStopping {
		return status, nil
	}
	return "", nil
}

// observe reports a committed step attempt.
func (x *execution) observe(node *linkd.ExecutionNode) {
	if node == nil || x.r.opts.Observe == nil {
		return
	}
	x.r.opts.Observe(StepObservation{Tenant: x.e.Tenant, Slug: x.e.Slug, WorkflowID: x.e.WorkflowID, StepID: node.StepID, Kind: node.Type,
		Status: node.Status, Duration: node.UpdatedAt.Sub(node.StartedAt)})
}

// finish ends the run in status with its webhook event, committing node
// (the step that ended it) if any.
func (x *execution) finish(ctx context.Context, status string, node *linkd.ExecutionNode, msg string) error {
	e := x.e
	now := x.now()
	e.Status, e.Error, e.FinishedAt, e.UpdatedAt, e.NextAt = status, msg, &now, now, now
	if e.StartedAt == nil {
		e.StartedAt = &now
	}
	if node != nil {
		node.UpdatedAt = now
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "workflow", Action: "execution." + map[string]string{
		linkd.ExecCompleted: "complete", linkd.ExecErrored: "error", linkd.ExecStopped: "stop", linkd.ExecTimedOut: "time_out"}[status],
		AccountID: e.AccountID, Details: map[string]any{"execution_id": e.ID, "workflow_id": e.WorkflowID, "slug": e.Slug},
		Events: []*linkd.Event{linkd.NewWorkflowEvent(e, node, now)}}
	if _, err := x.r.store.AdvanceExecution(ctx, x.r.owner, e, node, false, ev); err != nil {
		return err
	}
	x.observe(node)
	if x.r.opts.Ended != nil {
		x.r.opts.Ended(e)
	}
	return nil
}

// wait records a failed attempt that is tried again at next.
func (x *execution) wait(ctx context.Context, node *linkd.ExecutionNode, next time.Time) (string, error) {
	e := x.e
	e.Attempt++
	e.NextAt, e.UpdatedAt = next, x.now()
	node.Status, node.Attempts, node.UpdatedAt = linkd.NodeWaiting, e.Attempt, e.UpdatedAt
	status, err := x.r.store.AdvanceExecution(ctx, x.r.owner, e, node, false, nil)
	if err != nil {
		return "", err
	}
	x.observe(node)
	// Nothing else may wake this instance's loop before its poll (10 s):
	// without this, a 1 s backoff waited up to 10 s. If the process dies
	// first, any instance's poll picks the run up.
	time.AfterFunc(next.Sub(x.now()), x.r.Wake)
	return cmp.Or(status, linkd.ExecRunning), nil
}

// marshal encodes a step's output for the store: NUL characters (which
// PostgreSQL's jsonb refuses) become U+FFFD.
func marshal(v any) (json.RawMessage, error) {
	b, err := json.Marshal(scrub(v, 0))
	if err != nil {
		return nil, fmt.Errorf("encode step output: %w", err)
	}
	return b, nil
}

func scrub(v any, depth int) any {
	if depth > tmpl.MaxTreeDepth {
		return nil
	}
	switch x := v.(type) {
	case string:
		return replaceNUL(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[replaceNUL(k)] = scrub(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e, depth+1)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[replaceNUL(k)] = replaceNUL(e)
		}
		return out
	}
	return v
}

func replaceNUL(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b := []byte(s)
			out := make([]byte, 0, len(b)+8)
			for _, c := range b {
				if c == 0 {
					out = append(out, "\uFFFD"...)
				} else {
					out = append(out, c)
				}
			}
			return string(out)
		}
	}
	return s
}
