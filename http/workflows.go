package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// SyncRunner runs a synchronous execution on this instance
// (workflow.Runner).
type SyncRunner interface {
	RunSync(ctx context.Context, t linkd.Tenant, id string, limit time.Duration) (*linkd.Execution, error)
}

// workflowRoutes registers event definitions, triggers, direct runs and
// executions (reference §7–8). The application/{slug}/{sub} routes go
// through one dispatcher (appSub): event/{event_id} and {slug}/settings
// share the shape, and ServeMux refuses two patterns that overlap.
func (s *Server) workflowRoutes() {
	const app = "/api/v2/public/application"
	s.handle("GET "+app+"/{slug}/{sub}", s.withAPIKey(s.appSub(s.handleGetAppSettings, s.handleGetEventDef)))
	s.handle("PUT "+app+"/{slug}/{sub}", s.withAPIKey(s.withIdempotency(func(w http.ResponseWriter, r *http.Request, body []byte) error {
		return s.appSub(func(w http.ResponseWriter, r *http.Request) error { return s.handlePutAppSettings(w, r, body) },
			func(w http.ResponseWriter, r *http.Request) error { return s.putEventDef(w, r, body) })(w, r)
	})))
	s.handle("DELETE "+app+"/{slug}/{sub}", s.withAPIKey(s.appSub(nil, s.handleDeleteEventDef)))
	if s.executions == nil {
		return
	}
	// Event definitions (API key only), at the documented path and at the
	// Node SDK's.
	s.handle("GET "+app+"/event", s.withAPIKey(s.handleListEventDefs))
	s.handle("POST "+app+"/event", s.withAPIKey(s.withIdempotency(s.handleCreateEventDef)))
	const ev = "/api/v2/public/event"
	s.handle("GET "+ev, s.withAPIKey(s.handleListEventDefs))
	s.handle("GET "+ev+"/{event_id}", s.withAPIKey(s.handleGetEventDef))
	s.handle("PUT "+ev+"/{event_id}", s.withAPIKey(s.withIdempotency(s.putEventDef)))
	s.handle("DELETE "+ev+"/{event_id}", s.withAPIKey(s.handleDeleteEventDef))
	// Firing an event for a linked account.
	s.handle("POST "+ev, s.withKeyOrSession(s.withIdempotency(s.handleTrigger)))
	s.handle("POST "+ev+"/trigger", s.withKeyOrSession(s.withIdempotency(s.handleTrigger)))
	s.handle("POST "+ev+"/{slug}", s.withKeyOrSession(s.withIdempotency(s.handleTrigger)))
	// Running one workflow directly.
	s.handle("POST /api/v2/public/workflow/{workflow_id}/execute", s.withKeyOrSession(s.withIdempotency(s.handleExecute)))
	s.handle("POST /api/v1/workflow/{workflow_id}/execute", s.withKeyOrSession(s.withIdempotency(s.handleExecute)))
	// Executions of an account.
	const ex = "/api/v2/public/execution"
	s.handle("GET "+ex, s.withKeyOrSession(s.handleListExecutions))
	s.handle("GET "+ex+"/{execution_id}", s.withKeyOrSession(s.handleGetExecution))
	s.handle("POST "+ex+"/{execution_id}/stop", s.withKeyOrSession(s.handleStopExecution))
	s.handle("POST "+ex+"/{execution_id}/rerun", s.withKeyOrSession(s.handleRerunExecution))
}

// appSub dispatches /application/{slug}/{sub}: an event definition when
// slug is "event" (no app has that slug: the catalog refuses it), else the
// app's settings when sub is "settings".
func (s *Server) appSub(settings, event handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		switch {
		case r.PathValue("slug") == "event" && event != nil && s.executions != nil:
			r.SetPathValue("event_id", r.PathValue("sub"))
			return event(w, r)
		case r.PathValue("sub") == "settings" && settings != nil && s.connections != nil:
			return settings(w, r)
		}
		return &linkd.Error{Code: linkd.ENOTFOUND, Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)}
	}
}

// eventDefJSON is an event definition as the reference shows it.
type eventDefJSON struct {
	ID          string           `json:"_id"`
	Name        string           `json:"name"`
	Response    []linkd.EventKey `json:"response"`
	RawResponse string           `json:"raw_response"`
	JSONSchema  json.RawMessage  `json:"json_schema,omitempty"`
	CreatedAt   string           `json:"createdAt"`
	UpdatedAt   string           `json:"updatedAt"`
}

func renderEventDef(d *linkd.EventDef) eventDefJSON {
	return eventDefJSON{ID: d.ID, Name: d.Name, Response: d.Keys(), RawResponse: string(d.Response), JSONSchema: d.JSONSchema,
		CreatedAt: wireTime(d.CreatedAt), UpdatedAt: wireTime(d.UpdatedAt)}
}

// writeEventDefs answers with the tenant's whole list, as every event
// definition route of the reference does but GET by id.
func (s *Server) writeEventDefs(w http.ResponseWriter, r *http.Request) error {
	defs, err := s.store.EventDefs(r.Context(), tenant(r))
	if err != nil {
		return err
	}
	out := make([]eventDefJSON, 0, len(defs))
	for _, d := range defs {
		out = append(out, renderEventDef(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleListEventDefs(w http.ResponseWriter, r *http.Request) error {
	return s.writeEventDefs(w, r)
}

func (s *Server) handleGetEventDef(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.EventDef(r.Context(), tenant(r), r.PathValue("event_id"), false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderEventDef(d))
	return nil
}

// eventDefBody is the create/update body: response is a sample payload,
// as a JSON object or as a string holding one.
type eventDefBody struct {
	Name       *string         `json:"name"`
	Response   json.RawMessage `json:"response"`
	JSONSchema json.RawMessage `json:"json_schema"`
}

func (b *eventDefBody) input(cur *linkd.EventDef) (linkd.EventDefInput, error) {
	in := linkd.EventDefInput{}
	if cur != nil {
		in = linkd.EventDefInput{Name: cur.Name, Response: cur.Response, JSONSchema: cur.JSONSchema}
	}
	if b.Name != nil {
		in.Name = *b.Name
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *json.RawMessage
	}{{"response", b.Response, &in.Response}, {"json_schema", b.JSONSchema, &in.JSONSchema}} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		v := f.raw
		var s string
		if json.Unmarshal(f.raw, &s) == nil {
			v = json.RawMessage(s)
			if !json.Valid(v) {
				return in, linkd.FieldError(f.name, "%s must be a JSON object or a string holding one", f.name)
			}
		}
		*f.dst = v
	}
	return in, nil
}

func (s *Server) handleCreateEventDef(w http.ResponseWriter, r *http.Request, body []byte) error {
	var b eventDefBody
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	in, err := b.input(nil)
	if err != nil {
		return err
	}
	if _, err := s.executions.PutEventDef(r.Context(), tenant(r), actor(r), "", in); err != nil {
		return err
	}
	return s.writeEventDefs(w, r)
}

func (s *Server) putEventDef(w http.ResponseWriter, r *http.Request, body []byte) error {
	var b eventDefBody
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	cur, err := s.store.EventDef(r.Context(), tenant(r), r.PathValue("event_id"), false)
	if err != nil {
		return err
	}
	in, err := b.input(cur)
	if err != nil {
		return err
	}
	if _, err := s.executions.PutEventDef(r.Context(), tenant(r), actor(r), cur.ID, in); err != nil {
		return err
	}
	return s.writeEventDefs(w, r)
}

func (s *Server) handleDeleteEventDef(w http.ResponseWriter, r *http.Request) error {
	if err := s.executions.DeleteEventDef(r.Context(), tenant(r), actor(r), r.PathValue("event_id")); err != nil {
		return err
	}
	return s.writeEventDefs(w, r)
}

// triggerBody is the reference's trigger body; the Node SDK also sends the
// account, the config and the app in it.
type triggerBody struct {
	Event           string          `json:"event"`
	Trigger         string          `json:"trigger"`
	Payload         json.RawMessage `json:"payload"`
	LinkedAccountID string          `json:"linked_account_id"`
	ConfigID        string          `json:"config_id"`
	Slug            string          `json:"slug"`
}

// bodyAccount is the request's account, or the body's when the request
// names none (an API key caller).
func bodyAccount(r *http.Request, fromBody string) (string, error) {
	if sessionAccount(r) == "" && r.Header.Get("linked_account_id") == "" && r.URL.Query().Get("linked_account_id") == "" && fromBody != "" {
		r.Header.Set("linked_account_id", fromBody)
	}
	return accountFor(r)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// handleTrigger fires an event for the account: one run per workflow the
// account switched on for it, queued before the answer.
func (s *Server) handleTrigger(w http.ResponseWriter, r *http.Request, body []byte) error {
	var b triggerBody
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	id, err := bodyAccount(r, b.LinkedAccountID)
	if err != nil {
		return err
	}
	in := linkd.TriggerInput{AccountID: id, Event: firstOf(b.Event, b.Trigger), Payload: b.Payload,
		ConfigID: firstOf(r.Header.Get("config_id"), b.ConfigID), Slug: firstOf(r.PathValue("slug"), r.Header.Get("slug"), b.Slug),
		InstanceTag: r.Header.Get("instance_tag")}
	if in.Slug != "" && s.executions.Catalog != nil {
		if _, ok := s.executions.Catalog.App(in.Slug); !ok {
			return linkd.AppNotFound(in.Slug)
		}
	}
	eventID, execs, err := s.executions.Trigger(r.Context(), tenant(r), actor(r), in)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(execs))
	for _, e := range execs {
		ids = append(ids, e.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Webhook Fired Success", "event_id": eventID, "execution_ids": ids})
	return nil
}

// handleExecute runs one workflow for the account; with sync_execution
// it answers with the run's return value once it ends (or its id when the
// sync limit passes first).
func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request, body []byte) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	sync := false
	if v := r.Header.Get("sync_execution"); v != "" {
		if sync, err = strconv.ParseBool(v); err != nil {
			return linkd.FieldError("sync_execution", "sync_execution must be true or false")
		}
	}
	if sync && s.flows == nil {
		return &linkd.Error{Code: linkd.EUNAVAILABLE, Field: "sync_execution", Message: "this server does not run workflows synchronously"}
	}
	in := linkd.ExecuteInput{AccountID: id, WorkflowID: r.PathValue("workflow_id"), Slug: r.Header.Get("slug"),
		ConfigID: r.Header.Get("config_id"), InstanceTag: r.Header.Get("instance_tag"), Sync: sync}
	if len(strings.TrimSpace(string(body))) > 0 {
		in.Payload = body
	}
	e, err := s.executions.Execute(r.Context(), tenant(r), actor(r), in)
	if err != nil {
		return err
	}
	out := map[string]any{"execution_id": e.ID}
	if sync {
		done, err := s.flows.RunSync(r.Context(), tenant(r), e.ID, s.executions.SyncLimitOf())
		if err != nil {
			return err
		}
		out["status"] = done.Status
		if len(done.ReturnValue) > 0 {
			out["return_value"] = done.ReturnValue
		} else {
			out["return_value"] = nil
		}
		if done.Status == linkd.ExecErrored || done.Status == linkd.ExecTimedOut {
			out["errored"] = true
			out["error"] = done.Error
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type execRefJSON struct {
	ID   string `json:"_id"`
	Name string `json:"name"`
	Icon string `json:"icon"`
}

type execNodeJSON struct {
	NodeID          string          `json:"node_id"`
	NodeName        string          `json:"node_name"`
	NodeType        string          `json:"node_type"`
	NodeStatus      string          `json:"node_status"`
	AttemptsMade    int             `json:"attempts_made"`
	MaximumAttempts int             `json:"maximum_attempts"`
	InputData       json.RawMessage `json:"input_data"`
	LatestOutput    json.RawMessage `json:"latest_output"`
	Error           string          `json:"error,omitempty"`
	CreatedAt       string          `json:"createdAt"`
	UpdatedAt       string          `json:"updatedAt"`
}

// executionJSON is an execution as the reference shows it, with linkd's
// additions (source, type, return value, error, times).
type executionJSON struct {
	ID                    string          `json:"_id"`
	Name                  string          `json:"name"`
	OrgID                 string          `json:"org_id"`
	Environment           string          `json:"environment"`
	Status                string          `json:"status"`
	AssociatedApplication execRefJSON     `json:"associated_application"`
	AssociatedWorkflow    execRefJSON     `json:"associated_workflow"`
	TriggerEvent          string          `json:"trigger_application_event,omitempty"`
	LinkedAccountID       string          `json:"linked_account_id"`
	ConfigID              string          `json:"config_id"`
	AssociatedEventID     string          `json:"associated_event_id,omitempty"`
	ExecutionSource       string          `json:"execution_source"`
	ExecutionType         string          `json:"execution_type"`
	InstanceTag           string          `json:"instance_tag,omitempty"`
	CompletionPercentage  int             `json:"completion_percentage"`
	ReturnValue           json.RawMessage `json:"return_value,omitempty"`
	Error                 string          `json:"error,omitempty"`
	RerunOf               string          `json:"rerun_of,omitempty"`
	Nodes                 []execNodeJSON  `json:"nodes,omitempty"`
	CreatedAt             string          `json:"createdAt"`
	UpdatedAt             string          `json:"updatedAt"`
	StartedAt             *string         `json:"started_at"`
	FinishedAt            *string         `json:"finished_at"`
}

func (s *Server) renderExecution(e *linkd.Execution, withNodes bool) *executionJSON {
	out := &executionJSON{ID: e.ID, Name: e.WorkflowName, OrgID: e.Tenant.OrgID, Environment: string(e.Tenant.Env), Status: e.Status,
		AssociatedApplication: execRefJSON{ID: e.Slug, Name: e.Slug}, AssociatedWorkflow: execRefJSON{ID: e.WorkflowID, Name: e.WorkflowName},
		TriggerEvent: e.EventName, LinkedAccountID: e.AccountID, ConfigID: e.ConfigID, AssociatedEventID: e.EventID,
		ExecutionSource: e.Source, ExecutionType: e.Type, InstanceTag: e.InstanceTag, ReturnValue: e.ReturnValue, Error: e.Error,
		RerunOf: e.RerunOf, CreatedAt: wireTime(e.CreatedAt), UpdatedAt: wireTime(e.UpdatedAt),
		StartedAt: optTime(e.StartedAt), FinishedAt: optTime(e.FinishedAt)}
	steps := 0
	if cat := s.executions.Catalog; cat != nil {
		if app, ok := cat.App(e.Slug); ok {
			out.AssociatedApplication.Name, out.AssociatedApplication.Icon = app.Name, app.IconURL
			out.AssociatedWorkflow.Icon = app.IconURL
			for _, w := range app.Workflows {
				if w.ID == e.WorkflowID {
					steps = len(w.Steps)
				}
			}
		}
	}
	if steps > 0 {
		out.CompletionPercentage = min(100, e.Step*100/steps)
	}
	if e.Status == linkd.ExecCompleted {
		out.CompletionPercentage = 100
	}
	if withNodes {
		out.Nodes = make([]execNodeJSON, 0, len(e.Nodes))
		for _, n := range e.Nodes {
			out.Nodes = append(out.Nodes, execNodeJSON{NodeID: n.StepID, NodeName: n.StepID, NodeType: n.Type, NodeStatus: n.Status,
				AttemptsMade: n.Attempts, MaximumAttempts: n.MaxAttempts, InputData: n.Input, LatestOutput: n.Output, Error: n.Error,
				CreatedAt: wireTime(n.StartedAt), UpdatedAt: wireTime(n.UpdatedAt)})
		}
	}
	return out
}

// execListJSON is the reference's paginated list.
type execListJSON struct {
	Docs          []*executionJSON `json:"docs"`
	TotalDocs     int              `json:"totalDocs"`
	Limit         int              `json:"limit"`
	TotalPages    int              `json:"totalPages"`
	Page          int              `json:"page"`
	PagingCounter int              `json:"pagingCounter"`
	HasPrevPage   bool             `json:"hasPrevPage"`
	HasNextPage   bool             `json:"hasNextPage"`
	PrevPage      *int             `json:"prevPage"`
	NextPage      *int             `json:"nextPage"`
}

// parseExecutionFilter reads the reference's list query.
func parseExecutionFilter(q map[string][]string, accountID string) (linkd.ExecutionFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := linkd.ExecutionFilter{AccountID: accountID, WorkflowID: get("workflow_id"), ID: get("execution_id")}
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &f.Page, 1 << 30}, {"limit", &f.Limit, linkd.MaxPageLimit}} {
		if v := get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > p.max {
				return f, linkd.FieldError(p.name, "%s must be a whole number from 1 to %d", p.name, p.max)
			}
			*p.dst = n
		}
	}
	all := func(field, v string, valid ...string) (string, error) {
		if v == "" || strings.EqualFold(v, "All") {
			return "", nil
		}
		for _, ok := range valid {
			if strings.EqualFold(v, ok) {
				return ok, nil
			}
		}
		return "", linkd.FieldError(field, "%s must be All or one of %s", field, strings.Join(valid, ", "))
	}
	var err error
	if f.Status, err = all("status", get("status"), linkd.ExecCompleted, linkd.ExecErrored, linkd.ExecRunning, linkd.ExecStopped,
		linkd.ExecStopping, linkd.ExecTimedOut); err != nil {
		return f, err
	}
	if f.Source, err = all("execution_source", get("execution_source"), linkd.SourceEvent, linkd.SourceSchedule, linkd.SourceAPI,
		linkd.SourceConnection); err != nil {
		return f, err
	}
	if f.Type, err = all("execution_type", get("execution_type"), linkd.ExecSync, linkd.ExecAsync); err != nil {
		return f, err
	}
	for _, d := range []struct {
		name string
		dst  **time.Time
		add  time.Duration
	}{{"start_date", &f.From, 0}, {"end_date", &f.To, 24 * time.Hour}} {
		if v := get(d.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return f, linkd.FieldError(d.name, "%s must be a date, YYYY-MM-DD", d.name)
			}
			t = t.Add(d.add)
			*d.dst = &t
		}
	}
	if v := get("slug"); v != "" {
		for _, sl := range strings.Split(v, ",") {
			if sl = strings.TrimSpace(sl); sl != "" {
				f.Slugs = append(f.Slugs, sl)
			}
		}
	}
	if v := get("sortAsc"); v != "" {
		if f.Ascending, err = strconv.ParseBool(v); err != nil {
			return f, linkd.FieldError("sortAsc", "sortAsc must be true or false")
		}
	}
	return f, nil
}

func (s *Server) handleListExecutions(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	f, err := parseExecutionFilter(r.URL.Query(), id)
	if err != nil {
		return err
	}
	if name := r.URL.Query().Get("workflow_name"); name != "" && f.WorkflowID == "" && s.executions.Catalog != nil {
		f.WorkflowID = "\x00none" // a name no workflow has matches nothing
		for _, a := range s.executions.Catalog.Apps() {
			for _, w := range a.Workflows {
				if strings.EqualFold(w.Name, name) {
					f.WorkflowID = w.ID
				}
			}
		}
	}
	p, err := s.store.ListExecutions(r.Context(), tenant(r), f)
	if err != nil {
		return err
	}
	limit, offset := f.Bounds()
	page := offset/limit + 1
	out := execListJSON{Docs: make([]*executionJSON, 0, len(p.Executions)), TotalDocs: p.Total, Limit: limit,
		TotalPages: (p.Total + limit - 1) / limit, Page: page, PagingCounter: offset + 1, HasPrevPage: page > 1}
	out.HasNextPage = page < out.TotalPages
	if out.HasPrevPage {
		prev := page - 1
		out.PrevPage = &prev
	}
	if out.HasNextPage {
		next := page + 1
		out.NextPage = &next
	}
	for _, e := range p.Executions {
		out.Docs = append(out.Docs, s.renderExecution(e, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// accountExecution returns the request's account's execution id; another
// account's is not found.
func (s *Server) accountExecution(r *http.Request) (*linkd.Execution, error) {
	id, err := accountFor(r)
	if err != nil {
		return nil, err
	}
	e, err := s.store.Execution(r.Context(), tenant(r), r.PathValue("execution_id"))
	if err != nil {
		return nil, err
	}
	if e.AccountID != id {
		return nil, linkd.ExecutionNotFound(r.PathValue("execution_id"))
	}
	return e, nil
}

func (s *Server) handleGetExecution(w http.ResponseWriter, r *http.Request) error {
	e, err := s.accountExecution(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderExecution(e, true))
	return nil
}

func (s *Server) handleStopExecution(w http.ResponseWriter, r *http.Request) error {
	e, err := s.accountExecution(r)
	if err != nil {
		return err
	}
	if e, err = s.executions.Stop(r.Context(), tenant(r), actor(r), e.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderExecution(e, false))
	return nil
}

func (s *Server) handleRerunExecution(w http.ResponseWriter, r *http.Request) error {
	e, err := s.accountExecution(r)
	if err != nil {
		return err
	}
	if e, err = s.executions.Rerun(r.Context(), tenant(r), actor(r), e.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderExecution(e, false))
	return nil
}
