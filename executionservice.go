package linkd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Audit actions of workflows.
const (
	AuditEventTrigger  = "event.trigger"
	AuditWorkflowRun   = "workflow.execute"
	AuditExecStop      = "execution.stop"
	AuditExecRerun     = "execution.rerun"
	AuditEventDefPut   = "event.put"
	AuditEventDefDel   = "event.delete"
	AuditScheduleFired = "workflow.schedule"
)

// errNoCatalog is a wiring mistake: the service was given no catalog.
var errNoCatalog = Errorf(EINTERNAL, "executions: no app catalog configured")

// MaxPayloadBytes bounds an event's payload.
const MaxPayloadBytes = 256 << 10

// DefaultSyncLimit is how long a synchronous run may take before the
// caller gets its id without a return value (the run goes on).
const DefaultSyncLimit = 30 * time.Second

// executionStore is what the service needs of the store.
type executionStore interface {
	ExecutionStore
	EventDefStore
	Configs(ctx context.Context, t Tenant, accountID, slug string) (*LinkedAccount, []*AppConfig, error)
}

// ExecutionService starts, stops and reruns workflow runs and keeps the
// tenants' event definitions. Runs are queued as rows in the transaction
// that records the trigger; package workflow runs them.
type ExecutionService struct {
	store executionStore
	// Catalog gives the workflows; set by the wiring.
	Catalog Catalog
	// Wake, when set, is called after a commit that queued runs, so that
	// the runner starts them without waiting for its poll.
	Wake func()
	// SyncLimit bounds a synchronous run (DefaultSyncLimit when zero).
	SyncLimit time.Duration
	// TickBatch and TickLease are a scheduled workflow's tick's configs
	// per transaction and its lease (ScheduledTick; defaults when zero).
	TickBatch int
	TickLease time.Duration
	Now       func() time.Time
}

// NewExecutionService returns the service over store.
func NewExecutionService(store Store) *ExecutionService {
	return &ExecutionService{store: store}
}

func (s *ExecutionService) now() time.Time { return NowOf(s.Now) }

func (s *ExecutionService) wake() {
	if s.Wake != nil {
		s.Wake()
	}
}

// TriggerInput is an event fired for a linked account.
type TriggerInput struct {
	AccountID   string
	ConfigID    string // "" for the account's default config
	Slug        string // "" for every app
	Event       string
	Payload     json.RawMessage
	InstanceTag string
}

// checkPayload returns the payload as a JSON object ({} when none).
func checkPayload(p json.RawMessage) (json.RawMessage, error) {
	if len(p) == 0 || string(p) == "null" {
		return json.RawMessage("{}"), nil
	}
	if len(p) > MaxPayloadBytes {
		return nil, &Error{Code: ETOOLARGE, Field: "payload", Message: fmt.Sprintf("payload is larger than %d bytes", MaxPayloadBytes)}
	}
	if jsonKind(p) != '{' {
		return nil, FieldError("payload", "payload must be a JSON object")
	}
	// PostgreSQL cannot keep a NUL character in jsonb.
	if bytes.Contains(bytes.ToLower(p), []byte(`\u0000`)) {
		return nil, FieldError("payload", "payload must not contain the NUL character")
	}
	return p, nil
}

// Trigger fires an event for an account: one run per workflow switched on
// in the account's config whose trigger is the event, all queued in one
// transaction with the event's audit entry. It returns the event's id and
// the runs. ENOTFOUND (INVALID_EVENT) for an event the tenant did not
// define, or an unknown account.
func (s *ExecutionService) Trigger(ctx context.Context, t Tenant, actor string, in TriggerInput) (string, []*Execution, error) {
	if err := ValidateAccountID(in.AccountID); err != nil {
		return "", nil, err
	}
	if err := ValidateEventName(in.Event); err != nil {
		return "", nil, err
	}
	if s.Catalog == nil {
		return "", nil, errNoCatalog
	}
	payload, err := checkPayload(in.Payload)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.store.EventDef(ctx, t, in.Event, true); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return "", nil, EventNotFound(in.Event)
		}
		return "", nil, err
	}
	configID := in.ConfigID
	if configID == "" {
		configID = in.AccountID
	}
	_, configs, err := s.store.Configs(ctx, t, in.AccountID, in.Slug)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	eventID := NewID()
	var execs []*Execution
	for _, c := range configs {
		if c.ConfigID != configID {
			continue
		}
		app, ok := s.Catalog.App(c.Slug)
		if !ok {
			continue
		}
		for i := range app.Workflows {
			w := &app.Workflows[i]
			if w.Trigger == nil || w.Trigger.Event != in.Event {
				continue
			}
			if st := c.Workflow(w.ID); st == nil || !st.Enabled {
				continue
			}
			e := s.newExecution(t, in.AccountID, app, w, c.ConfigID, payload, now)
			e.EventID, e.EventName, e.Source, e.InstanceTag = eventID, in.Event, SourceEvent, in.InstanceTag
			execs = append(execs, e)
		}
	}
	ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditEventTrigger, AccountID: in.AccountID,
		Details: map[string]any{"event": in.Event, "event_id": eventID, "executions": len(execs)}}
	if err := s.store.QueueExecutions(ctx, t, in.AccountID, execs, ev); err != nil {
		return "", nil, err
	}
	if len(execs) > 0 {
		s.wake()
	}
	return eventID, execs, nil
}

func (s *ExecutionService) newExecution(t Tenant, accountID string, app *App, w *Workflow, configID string, payload json.RawMessage, now time.Time) *Execution {
	timeout := w.RunTimeout
	if timeout <= 0 {
		timeout = DefaultRunTimeout
	}
	return &Execution{Tenant: t, ID: NewID(), AccountID: accountID, Slug: app.Slug, ConfigID: configID, WorkflowID: w.ID,
		WorkflowName: w.Name, Type: ExecAsync, Status: ExecRunning, Payload: payload, NextAt: now, Deadline: now.Add(timeout),
		CreatedAt: now, UpdatedAt: now}
}

// ExecuteInput is a direct run of one workflow.
type ExecuteInput struct {
	AccountID   string
	WorkflowID  string
	Slug        string // required when several apps have WorkflowID
	ConfigID    string
	Payload     json.RawMessage
	Sync        bool
	InstanceTag string
}

// Execute queues a run of one workflow for the account's config, which
// must have it switched on. A synchronous run is due only after the sync
// limit, so that the caller's instance (workflow.Runner.RunSync) starts it
// at once and no other does meanwhile.
func (s *ExecutionService) Execute(ctx context.Context, t Tenant, actor string, in ExecuteInput) (*Execution, error) {
	if err := ValidateAccountID(in.AccountID); err != nil {
		return nil, err
	}
	payload, err := checkPayload(in.Payload)
	if err != nil {
		return nil, err
	}
	app, w, err := s.findWorkflow(in.Slug, in.WorkflowID)
	if err != nil {
		return nil, err
	}
	configID := in.ConfigID
	if configID == "" {
		configID = in.AccountID
	}
	_, configs, err := s.store.Configs(ctx, t, in.AccountID, app.Slug)
	if err != nil {
		return nil, err
	}
	var cfg *AppConfig
	for _, c := range configs {
		if c.ConfigID == configID {
			cfg = c
		}
	}
	if cfg == nil {
		return nil, &Error{Code: ENOTFOUND, Field: "config_id", Message: fmt.Sprintf("Config with config id %s not found", configID)}
	}
	if st := cfg.Workflow(w.ID); st == nil || !st.Enabled {
		return nil, FieldError("workflow_id", "workflow %s is not switched on in config %s of %s", w.ID, configID, app.Slug)
	}
	now := s.now()
	e := s.newExecution(t, in.AccountID, app, w, configID, payload, now)
	e.Source, e.InstanceTag = SourceAPI, in.InstanceTag
	if in.Sync {
		e.Type, e.NextAt = ExecSync, now.Add(s.syncLimit())
	}
	ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditWorkflowRun, AccountID: in.AccountID,
		Details: map[string]any{"execution_id": e.ID, "workflow_id": w.ID, "slug": app.Slug}}
	if err := s.store.QueueExecutions(ctx, t, in.AccountID, []*Execution{e}, ev); err != nil {
		return nil, err
	}
	if !in.Sync {
		s.wake()
	}
	return e, nil
}

func (s *ExecutionService) syncLimit() time.Duration {
	if s.SyncLimit > 0 {
		return s.SyncLimit
	}
	return DefaultSyncLimit
}

// SyncLimitOf is how long a synchronous run may take.
func (s *ExecutionService) SyncLimitOf() time.Duration { return s.syncLimit() }

// findWorkflow finds a workflow by id, in the app slug or, when slug is
// empty, in the one app that has it.
func (s *ExecutionService) findWorkflow(slug, id string) (*App, *Workflow, error) {
	if s.Catalog == nil {
		return nil, nil, errNoCatalog
	}
	notFound := &Error{Code: ENOTFOUND, Field: "workflow_id", Message: fmt.Sprintf("Workflow with id %s not found", id)}
	var apps []*App
	if slug != "" {
		a, ok := s.Catalog.App(slug)
		if !ok {
			return nil, nil, AppNotFound(slug)
		}
		apps = []*App{a}
	} else {
		apps = s.Catalog.Apps()
	}
	var foundApp *App
	var found *Workflow
	for _, a := range apps {
		for i := range a.Workflows {
			if a.Workflows[i].ID == id {
				if found != nil {
					return nil, nil, FieldError("slug", "several apps have a workflow %s: name the app in the slug header", id)
				}
				foundApp, found = a, &a.Workflows[i]
			}
		}
	}
	if found == nil {
		return nil, nil, notFound
	}
	return foundApp, found, nil
}

// Stop stops a run: at once when no instance is running it, else between
// its steps (STOPPING until then). A run that ended is returned as it is.
func (s *ExecutionService) Stop(ctx context.Context, t Tenant, actor, id string) (*Execution, error) {
	now := s.now()
	return s.store.StopExecution(ctx, t, id, now, func(e *Execution, leased bool) (string, *AuditEntry, error) {
		ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditExecStop, AccountID: e.AccountID,
			Details: map[string]any{"execution_id": e.ID}}
		if leased {
			return ExecStopping, ev, nil
		}
		e.Status = ExecStopped
		ev.Events = []*Event{NewWorkflowEvent(e, nil, now)}
		return ExecStopped, ev, nil
	})
}

// Rerun queues a new run of a run's workflow with the same payload and
// config.
func (s *ExecutionService) Rerun(ctx context.Context, t Tenant, actor, id string) (*Execution, error) {
	old, err := s.store.Execution(ctx, t, id)
	if err != nil {
		return nil, err
	}
	app, w, err := s.findWorkflow(old.Slug, old.WorkflowID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	e := s.newExecution(t, old.AccountID, app, w, old.ConfigID, old.Payload, now)
	e.EventID, e.EventName, e.Source, e.InstanceTag, e.RerunOf = old.EventID, old.EventName, old.Source, old.InstanceTag, old.ID
	ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditExecRerun, AccountID: old.AccountID,
		Details: map[string]any{"execution_id": e.ID, "rerun_of": old.ID}}
	if err := s.store.QueueExecutions(ctx, t, old.AccountID, []*Execution{e}, ev); err != nil {
		return nil, err
	}
	s.wake()
	return e, nil
}

// FireSchedule fires the tick of schedule name (for owner) for the period
// starting at slot: it queues one run of the scheduled workflow w of app
// for every config that has it switched on, in batches, each its own
// transaction (ExecutionStore.QueueScheduledRuns), and finishes the
// schedule's earlier ticks left unfinished by an instance that died.
// Won is false when another instance (or an earlier attempt) claimed the
// period already. A period is fired once, and each of its configs gets
// one run however the instances die.
func (s *ExecutionService) FireSchedule(ctx context.Context, name string, slot time.Time, owner string, app *App, w *Workflow) (TickFired, error) {
	// A resumed tick's runs carry their own period.
	payloads := map[int64]json.RawMessage{}
	k := ScheduledTick{Name: name, Slot: slot, Owner: owner, Slug: app.Slug, WorkflowID: w.ID, Batch: s.TickBatch, Lease: s.TickLease, Now: s.Now}
	f, err := s.store.QueueScheduledRuns(ctx, k, func(c ScheduledConfig) (*Execution, *AuditEntry, error) {
		payload, ok := payloads[c.Slot.UnixMicro()]
		if !ok {
			var err error
			if payload, err = json.Marshal(map[string]string{"scheduled_at": c.Slot.UTC().Format(time.RFC3339)}); err != nil {
				return nil, nil, err
			}
			payloads[c.Slot.UnixMicro()] = payload
		}
		now := s.now()
		e := s.newExecution(c.Tenant, c.AccountID, app, w, c.ConfigID, payload, now)
		e.Source, e.AccountPK = SourceSchedule, c.AccountPK
		return e, &AuditEntry{ID: NewID(), Time: now, Actor: "schedule", Action: AuditScheduleFired, AccountID: c.AccountID,
			Details: map[string]any{"execution_id": e.ID, "workflow_id": w.ID, "slug": app.Slug}}, nil
	})
	if f.Queued > 0 {
		s.wake()
	}
	if err != nil {
		return f, fmt.Errorf("fire schedule %s: %w", name, err)
	}
	return f, nil
}

// EventDefInput is a create or update of an event definition.
type EventDefInput struct {
	Name       string
	Response   json.RawMessage
	JSONSchema json.RawMessage
}

// PutEventDef creates a definition (id empty) or replaces one.
func (s *ExecutionService) PutEventDef(ctx context.Context, t Tenant, actor, id string, in EventDefInput) (*EventDef, error) {
	now := s.now()
	d := &EventDef{ID: id, Name: in.Name, Response: in.Response, JSONSchema: in.JSONSchema, CreatedAt: now, UpdatedAt: now}
	create := id == ""
	if create {
		d.ID = NewID()
	}
	if len(d.Response) == 0 {
		d.Response = json.RawMessage("{}")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditEventDefPut, Details: map[string]any{"event_id": d.ID, "name": d.Name}}
	if err := s.store.PutEventDef(ctx, t, d, create, ev); err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteEventDef removes a definition; runs it started stay.
func (s *ExecutionService) DeleteEventDef(ctx context.Context, t Tenant, actor, id string) error {
	ev := &AuditEntry{ID: NewID(), Time: s.now(), Actor: actor, Action: AuditEventDefDel, Details: map[string]any{"event_id": id}}
	return s.store.DeleteEventDef(ctx, t, id, ev)
}

// Lifecycle names the connection trigger an event is: created for
// Connection Created, expired for Connection Expired, "" for others.
func Lifecycle(event string) string {
	switch event {
	case EventConnectionCreated:
		return TriggerConnectionCreated
	case EventConnectionExpired:
		return TriggerConnectionExpired
	}
	return ""
}

// LifecycleRuns returns the runs a change of acct's connection to slug
// starts (event is Connection Created or Expired): one per workflow of the
// app whose trigger is that lifecycle change, switched on in one of the
// account's configs of the app, which configs reads in the change's
// transaction (ConnectionStore.PutConnection). The caller puts them on the
// change's audit entry (AuditEntry.Executions), so they are queued in its
// transaction, and calls WakeRuns after the commit.
func (s *ExecutionService) LifecycleRuns(t Tenant, acct *LinkedAccount, slug, event string, configs ConfigsFunc) ([]*Execution, error) {
	lc := Lifecycle(event)
	if lc == "" || s.Catalog == nil {
		return nil, nil
	}
	app, ok := s.Catalog.App(slug)
	if !ok {
		return nil, nil
	}
	var wfs []*Workflow
	for i := range app.Workflows {
		if w := &app.Workflows[i]; w.Trigger != nil && w.Trigger.Connection == lc {
			wfs = append(wfs, w)
		}
	}
	if len(wfs) == 0 {
		return nil, nil // the usual case: no read
	}
	cfgs, err := configs()
	if err != nil {
		return nil, err
	}
	now := s.now()
	payload, _ := json.Marshal(map[string]string{"event": event, "slug": slug, "linked_account_id": acct.AccountID})
	var out []*Execution
	for _, c := range cfgs {
		if c.Slug != slug {
			continue
		}
		for _, w := range wfs {
			if st := c.Workflow(w.ID); st == nil || !st.Enabled {
				continue
			}
			e := s.newExecution(t, acct.AccountID, app, w, c.ConfigID, payload, now)
			e.AccountPK, e.Source, e.EventName = acct.ID, SourceConnection, event
			out = append(out, e)
		}
	}
	return out, nil
}

// WakeRuns tells the runner that a commit queued runs.
func (s *ExecutionService) WakeRuns() { s.wake() }

// Purge deletes the runs that ended before before (the log retention),
// with their payloads, inputs and outputs.
func (s *ExecutionService) Purge(ctx context.Context, before time.Time) (int64, error) {
	return s.store.PurgeExecutions(ctx, StoreTime(before))
}
