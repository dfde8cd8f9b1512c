package linkd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Execution statuses, as the compatible API names them. A run is RUNNING
// from the moment it is queued until it ends; STOPPING is a stop asked of
// a run an instance is working on, which it honours between steps.
const (
	ExecRunning   = "RUNNING"
	ExecStopping  = "STOPPING"
	ExecCompleted = "COMPLETED"
	ExecErrored   = "ERRORED"
	ExecStopped   = "STOPPED"
	ExecTimedOut  = "TIMED_OUT"
)

// ExecFinished reports whether status is an end state.
func ExecFinished(status string) bool {
	switch status {
	case ExecCompleted, ExecErrored, ExecStopped, ExecTimedOut:
		return true
	}
	return false
}

// Node (step) statuses, as the compatible API names them.
const (
	NodeSuccess  = "Success"
	NodeReady    = "Ready"
	NodeErrored  = "Errored"
	NodeWaiting  = "Waiting" // failed, retried at the execution's NextAt
	NodeStopped  = "Stopped"
	NodeRejected = "Rejected" // its when guard was false: skipped
	NodeTimedOut = "Timed_Out"
)

// Execution sources and types (execution_source, execution_type).
const (
	SourceEvent      = "Event"
	SourceSchedule   = "Schedule"
	SourceAPI        = "API Call"
	SourceConnection = "Connection"
	ExecSync         = "SYNC"
	ExecAsync        = "ASYNC"
)

// WorkExecutions is runs queued (WorkSignals): the stores signal it after
// a commit that inserted runs, so that a runner on any instance starts them
// without waiting for its poll.
const WorkExecutions WorkKind = "executions"

// Execution is one run of a workflow for one linked account's config. It
// is a row: any instance runs it under a lease (package worker), one step
// at a time, committing each step's outcome before the next starts.
type Execution struct {
	Tenant    Tenant
	ID        string
	AccountPK string
	AccountID string // the tenant's id of the account
	Slug      string
	ConfigID  string
	// WorkflowID and WorkflowName are the catalog's at the time of the run.
	WorkflowID   string
	WorkflowName string
	// EventID groups the runs one trigger made; EventName is the event
	// (empty for a direct run or a schedule).
	EventID     string
	EventName   string
	Source      string
	Type        string // SYNC or ASYNC
	InstanceTag string
	Status      string
	// Payload is the event's payload (the event namespace of the steps).
	// It is the customer's data: deleted with the account.
	Payload     json.RawMessage
	ReturnValue json.RawMessage
	Error       string
	// Step is the index of the step to run next and Attempt how many
	// times it was tried; NextAt is when the run is due.
	Step     int
	Attempt  int
	NextAt   time.Time
	Deadline time.Time // the run times out here (TIMED_OUT)
	RerunOf  string
	// LeaseOwner is the instance running it now; empty when none.
	LeaseOwner string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// Nodes are filled by ExecutionStore.Execution only.
	Nodes []*ExecutionNode
}

// ExecutionTenant is e's tenant, for the worker's per-tenant cap.
func ExecutionTenant(e *Execution) Tenant { return e.Tenant }

// ExecutionNode is one step of a run, as the log shows it.
type ExecutionNode struct {
	Index       int
	StepID      string
	Type        string // http, set or return
	Status      string
	Attempts    int
	MaxAttempts int
	// Input is what the step was given (the request an http step sent,
	// without credentials); Output is its latest result. Both are the
	// customer's data: deleted with the account.
	Input     json.RawMessage
	Output    json.RawMessage
	Error     string
	StartedAt time.Time
	UpdatedAt time.Time
}

// ExecutionFilter selects runs, newest first.
type ExecutionFilter struct {
	AccountID  string
	Status     string
	Source     string
	Type       string
	WorkflowID string
	Slugs      []string
	ID         string
	From, To   *time.Time // created at or after From, before To
	Ascending  bool
	Page       int // from 1
	Limit      int
}

// Bounds returns the page's limit and offset (page 1 and
// DefaultPageLimit when unset; at most MaxPageLimit).
func (f ExecutionFilter) Bounds() (limit, offset int) {
	limit = f.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	limit = min(limit, MaxPageLimit)
	page := max(f.Page, 1)
	return limit, (page - 1) * limit
}

// ExecutionPage is one page of runs and how many match in all.
type ExecutionPage struct {
	Executions []*Execution
	Total      int
}

// ScheduledConfig is a config (in any tenant) with a scheduled workflow
// switched on.
type ScheduledConfig struct {
	Tenant    Tenant
	AccountPK string
	AccountID string
	ConfigID  string
	// Slot is the start of the period whose tick queues the run: the
	// period being fired, or an earlier one whose unfinished tick is
	// being finished (its runs are late but carry their own period).
	Slot time.Time
}

// ScheduledTick is one attempt at firing a scheduled workflow's tick
// (QueueScheduledRuns): schedule Name's period starting at Slot, by the
// instance Owner, for the configs of app Slug with workflow WorkflowID
// switched on.
type ScheduledTick struct {
	Name             string
	Slot             time.Time
	Owner            string
	Slug, WorkflowID string
	// Batch is how many configs one transaction queues (TickBatch when
	// zero): it bounds how long a tick holds SQLite's writer, or
	// PostgreSQL's row locks on its configs' accounts, at once.
	Batch int
	// Lease is how long each batch's hold on the tick lasts (TickLease
	// when zero): another instance takes over a tick whose lease ran out
	// unfinished, so it must outlast a batch and its wait for the writer.
	Lease time.Duration
	// Now is the clock leases are taken and judged by (time.Now when nil).
	Now func() time.Time
}

// TickBatch is how many configs a tick queues per transaction: 500 runs
// and audit entries hold SQLite's writer for tens of milliseconds.
const TickBatch = 500

// TickLease is how long a tick's batch holds the tick: far longer than a
// batch takes, and the delay before another instance finishes a tick whose
// instance died mid-way.
const TickLease = 30 * time.Second

// BatchSize is k.Batch or its default.
func (k ScheduledTick) BatchSize() int {
	if k.Batch > 0 {
		return k.Batch
	}
	return TickBatch
}

// LeaseUntil is when a hold on the tick taken now ends.
func (k ScheduledTick) LeaseUntil(now time.Time) time.Time {
	if k.Lease > 0 {
		return now.Add(k.Lease)
	}
	return now.Add(TickLease)
}

// TickFired is what a fire of a scheduled workflow's tick did.
type TickFired struct {
	// Queued counts the runs this call queued: of its period, and of
	// earlier periods whose unfinished ticks it finished.
	Queued int
	// Won reports whether this call claimed the period's tick: false when
	// it was claimed already (by another instance, or an earlier attempt
	// of this one, which this call may have resumed).
	Won bool
	// Busy, when not zero, is when the lease runs out of a tick of the
	// schedule left unfinished and held by another instance: a call made
	// after it finishes the tick should that instance have died.
	Busy time.Time
}

// StopFunc decides, inside the store's transaction, what stopping the run
// e does: leased says an instance is running it now (so the stop waits for
// it: STOPPING) or not (STOPPED at once, with its event).
type StopFunc func(e *Execution, leased bool) (status string, ev *AuditEntry, err error)

// ExecutionStore keeps runs and their nodes. Every method but the claims
// and QueueScheduledRuns is scoped by tenant.
type ExecutionStore interface {
	// QueueExecutions inserts runs of the account accountID (setting
	// their AccountPK) and writes ev, in one transaction; ENOTFOUND when
	// the account does not exist.
	QueueExecutions(ctx context.Context, t Tenant, accountID string, execs []*Execution, ev *AuditEntry) error
	// ClaimExecutions leases due runs (RUNNING or STOPPING, NextAt at or
	// before c.Now, no live lease, no tenant in c.Skip), oldest due first.
	ClaimExecutions(ctx context.Context, c Claim) ([]*Execution, error)
	// ClaimExecution leases the run id whatever its NextAt (a synchronous
	// run starts at once); ENOTFOUND when it is leased, ended or unknown.
	ClaimExecution(ctx context.Context, t Tenant, id string, c Claim) (*Execution, error)
	// HeartbeatExecution extends owner's lease of e; ECONFLICT when owner
	// lost it.
	HeartbeatExecution(ctx context.Context, e *Execution, owner string, until time.Time) error
	// AdvanceExecution records a step's outcome in one transaction: node
	// (inserted or replaced by its Index, nil for none), e's progress
	// (Status, Step, Attempt, NextAt, ReturnValue, Error, StartedAt,
	// FinishedAt) and ev. The lease is kept when hold is set, released
	// otherwise. A stop asked meanwhile wins over RUNNING: the status
	// stored (and returned) stays STOPPING, and the run is due at once
	// (UpdatedAt) rather than at a retry's NextAt, so that it stops now.
	// ECONFLICT when owner no longer holds the lease.
	AdvanceExecution(ctx context.Context, owner string, e *Execution, node *ExecutionNode, hold bool, ev *AuditEntry) (status string, err error)
	// Execution returns a run with its nodes (by index); ENOTFOUND.
	Execution(ctx context.Context, t Tenant, id string) (*Execution, error)
	// ListExecutions returns a page of runs (without nodes).
	ListExecutions(ctx context.Context, t Tenant, f ExecutionFilter) (*ExecutionPage, error)
	// StopExecution calls fn with the run and stores the status it
	// returns and its audit entry, releasing nothing (the instance that
	// holds a lease ends the run); ENOTFOUND; a run that ended already is
	// returned unchanged without calling fn.
	StopExecution(ctx context.Context, t Tenant, id string, now time.Time, fn StopFunc) (*Execution, error)
	// QueueScheduledRuns fires schedule k.Name's tick for the period
	// starting at k.Slot: it claims the tick for k.Owner (as
	// TickStore.ClaimTick does; Won false when claimed already) and queues
	// the run that run builds, with its audit entry, for every config
	// (across tenants) of k.Slug with workflow k.WorkflowID switched on.
	// The configs go in key order, k.BatchSize() per transaction; each
	// batch checks and extends k.Owner's lease of the tick and records how
	// far the tick got (the last config queued), and the last marks it
	// done. The claim commits with the first batch, so a tick of one batch
	// is one transaction, as it was.
	//
	// A tick left unfinished (its instance died, or an attempt failed) is
	// resumed where it stopped: at once by its owner, and by any other
	// owner once its lease ran out; a call finishes the schedule's earlier
	// ticks so left too (within the week ticks are remembered), and
	// reports in Busy when a tick held by another owner may need it.
	//
	// Guarantees: a period is claimed once; each config that has the
	// workflow on throughout the tick gets exactly one run of its period,
	// across instances and crashes (a batch's runs commit with the tick's
	// progress, under a lease checked in the same transaction; a crash
	// loses at most a batch not committed, which the taker-over queues).
	// A config switched on, made or switched off during the tick gets the
	// period's run if the tick reaches it after the change (key order:
	// org, env, account, config), else not. An account deleted during the
	// tick keeps no run: a batch reads its configs with their accounts
	// (locked on PostgreSQL) in its transaction, and the delete removes
	// the runs committed before it.
	//
	// An error from run rolls its batch back and ends the call with it
	// (Queued counts the batches committed before); ECONFLICT when another
	// owner took the tick over between two batches (its lease ran out),
	// and finishes it.
	QueueScheduledRuns(ctx context.Context, k ScheduledTick,
		run func(ScheduledConfig) (*Execution, *AuditEntry, error)) (TickFired, error)
	// ExecutionQueue counts, across tenants, the runs not ended: due at
	// now and not leased (waiting for a worker), leased (running), and
	// due later (waiting for a retry), with the due time of the oldest
	// waiting for a worker (zero when none); for metrics.
	ExecutionQueue(ctx context.Context, now time.Time) (ExecutionQueueStats, error)
	// PurgeExecutions deletes, across tenants, the runs that ended before
	// before, with their nodes, in batches; it returns how many.
	PurgeExecutions(ctx context.Context, before time.Time) (int64, error)
}

// ExecutionQueueStats is the state of the runs not ended.
type ExecutionQueueStats struct {
	Due, Running, Retrying int
	OldestDue              time.Time
}

// ExecutionNotFound is the error of an unknown run.
func ExecutionNotFound(id string) error {
	return &Error{Code: ENOTFOUND, Field: "execution_id", Message: fmt.Sprintf("Execution with id %s not found", id)}
}

// workflowEventBody is the reference's workflow payload, and what a
// receiver needs to act on an error without asking: the failed step, its
// attempts, when, and the app's answer (its status and the start of its
// body).
type workflowEventBody struct {
	LinkedAccountID string          `json:"linked_account_id"`
	InstanceID      string          `json:"instance_id"`
	WorkflowID      string          `json:"workflow_id"`
	ConfigID        string          `json:"config_id"`
	Event           string          `json:"event"`
	WorkflowName    string          `json:"workflow_name"`
	Status          string          `json:"status"`
	Environment     string          `json:"environment"`
	Slug            string          `json:"slug"`
	WorkflowResp    json.RawMessage `json:"workflow_response,omitempty"`
	FailedNode      string          `json:"failed_node,omitempty"`
	Attempts        int             `json:"attempts,omitempty"`
	ErroredAt       string          `json:"errored_at,omitempty"`
	Error           string          `json:"error,omitempty"`
}

// NewWorkflowEvent returns the Workflow Completed, Errored, Stopped or
// Timed Out event of e, which ended now in e.Status; failed is the node
// that failed, if any.
func NewWorkflowEvent(e *Execution, failed *ExecutionNode, now time.Time) *Event {
	typ := map[string]string{ExecCompleted: EventWorkflowCompleted, ExecErrored: EventWorkflowErrored,
		ExecStopped: EventWorkflowStopped, ExecTimedOut: EventWorkflowTimedOut}[e.Status]
	body := workflowEventBody{LinkedAccountID: e.AccountID, InstanceID: e.ID, WorkflowID: e.WorkflowID, ConfigID: e.ConfigID,
		Event: typ, WorkflowName: e.WorkflowName, Status: e.Status, Environment: string(e.Tenant.Env), Slug: e.Slug}
	if e.Status == ExecCompleted && len(e.ReturnValue) > 0 {
		body.WorkflowResp = e.ReturnValue
	}
	if failed != nil && e.Status != ExecCompleted {
		body.FailedNode, body.Attempts, body.ErroredAt, body.Error = failed.StepID, failed.Attempts, eventTime(now), e.Error
	}
	ev := newEvent(typ, e.AccountID, e.Slug, now, body)
	ev.WorkflowID = e.WorkflowID
	return ev
}
