package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
)

// One run's page (GET /executions/{id}): its timeline of steps with their
// status, attempts, input and latest output (as stored: the runtime keeps
// an http step's request without credentials and with secret headers
// redacted, which is also what the API shows) and errors; and Stop and
// Rerun, each a POST through linkd.ExecutionService confirmed on a page of
// its own without JavaScript or in a <dialog> with it.

// maxShownJSON caps the JSON a step shows; the API has the whole of it.
const maxShownJSON = 64 << 10

// stepView is one step of the run's timeline.
type stepView struct {
	Index       int
	StepID      string
	Type        string
	Label, Tone string
	Ran         bool // a node exists: the step was reached
	Attempts    int
	MaxAttempts int
	Input       string
	Output      string
	Error       string
	StartedAt   time.Time
	UpdatedAt   time.Time
}

// execAction is Stop or Rerun: its confirmation's words and URLs.
type execAction struct {
	Name     string // "stop" or "rerun"
	Question string
	Detail   string
	Button   string
	Page     string // the confirmation page, without JavaScript
	Action   string // where the form posts
	DialogID string
}

type executionData struct {
	Exec        *linkd.Execution
	Link        string
	App         string
	Label, Tone string
	Ago         string
	Duration    string
	Account     string // the account's page
	Steps       []*stepView
	ReturnValue string
	Stop        *execAction // nil once the run ended or a stop is pending
	Rerun       *execAction
	// Confirm is the action a confirmation page asks about.
	Confirm *execAction
}

// handleExecution shows one run of the session's tenant; another tenant's
// id is not found.
func (h *Handler) handleExecution(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadExecution(r)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "execution", Page{Title: d.Exec.WorkflowName + " · " + d.Exec.ID, Nav: "executions", Data: d})
}

func (h *Handler) loadExecution(r *http.Request) (*executionData, error) {
	c := current(r)
	e, err := h.store.Execution(r.Context(), c.Tenant(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	now := h.now()
	row := h.execRow(e, now)
	d := &executionData{Exec: e, Link: row.Link, App: row.App, Label: row.Label, Tone: row.Tone, Ago: row.Ago, Duration: row.Duration,
		Account: accountPath(e.AccountID), ReturnValue: prettyJSON(e.ReturnValue)}
	// The catalog's steps show the whole timeline: those not reached yet
	// are listed after the nodes.
	var steps []*linkd.WorkflowStep
	if app, ok := h.catalogApp(e.Slug); ok {
		for _, wf := range app.Workflows {
			if wf.ID == e.WorkflowID {
				steps = wf.Steps
			}
		}
	}
	reached := map[int]bool{}
	for _, n := range e.Nodes {
		reached[n.Index] = true
		s := &stepView{Index: n.Index, StepID: n.StepID, Type: n.Type, Ran: true, Attempts: n.Attempts, MaxAttempts: n.MaxAttempts,
			Input: prettyJSON(n.Input), Output: prettyJSON(n.Output), Error: n.Error, StartedAt: n.StartedAt, UpdatedAt: n.UpdatedAt}
		s.Label, s.Tone = nodeStatus(n.Status)
		d.Steps = append(d.Steps, s)
	}
	for i, st := range steps {
		if reached[i] {
			continue
		}
		s := &stepView{Index: i, StepID: st.ID, Type: st.Kind, Label: "Not reached", Tone: "neutral"}
		if !linkd.ExecFinished(e.Status) {
			s.Label = "Pending"
		}
		d.Steps = append(d.Steps, s)
	}
	if e.Status == linkd.ExecRunning {
		d.Stop = &execAction{Name: "stop", Question: "Stop this run of " + e.WorkflowName + "?",
			Detail: "A step that is running now finishes first; no step after it runs. The run ends as Stopped and a Workflow Stopped event is sent.",
			Button: "Stop run", Page: d.Link + "/stop", Action: d.Link + "/stop", DialogID: "stop-dialog"}
	}
	d.Rerun = &execAction{Name: "rerun", Question: "Run " + e.WorkflowName + " again?",
		Detail: fmt.Sprintf("A new run starts from the first step, for %s with the same event payload and config. This run stays as it is.", e.AccountID),
		Button: "Rerun", Page: d.Link + "/rerun", Action: d.Link + "/rerun", DialogID: "rerun-dialog"}
	return d, nil
}

// handleStopExecution confirms (GET) and stops (POST) a run through the
// ExecutionService: at once when no instance is running it, else between
// its steps.
func (h *Handler) handleStopExecution(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadExecution(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		if d.Stop == nil {
			h.redirectNotice(w, r, d.Link, "This run is not running: there is nothing to stop.")
			return nil
		}
		d.Confirm = d.Stop
		return h.render(w, r, http.StatusOK, "execution_confirm", Page{Title: d.Stop.Question, Nav: "executions", Data: d})
	}
	c := current(r)
	e, err := h.cfg.Services.Executions.Stop(r.Context(), c.Tenant(), c.Actor(), d.Exec.ID)
	if err != nil {
		return err
	}
	msg := "Run stopped."
	switch e.Status {
	case linkd.ExecStopping:
		msg = "Stop asked: the step running now finishes, then the run stops."
	case linkd.ExecStopped:
	default:
		label, _ := execStatus(e.Status)
		msg = "The run had already ended (" + label + "): nothing was stopped."
	}
	h.redirectNotice(w, r, d.Link, msg)
	return nil
}

// handleRerunExecution confirms (GET) and queues (POST) a new run of the
// same workflow, payload and config, and shows it.
func (h *Handler) handleRerunExecution(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadExecution(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		d.Confirm = d.Rerun
		return h.render(w, r, http.StatusOK, "execution_confirm", Page{Title: d.Rerun.Question, Nav: "executions", Data: d})
	}
	c := current(r)
	e, err := h.cfg.Services.Executions.Rerun(r.Context(), c.Tenant(), c.Actor(), d.Exec.ID)
	if err != nil {
		return err
	}
	h.redirectNotice(w, r, executionPath(e.ID), "Rerun queued: this is the new run of "+d.Exec.ID+".")
	return nil
}

// nodeStatus is how a step's status reads and its colour.
func nodeStatus(s string) (label, tone string) {
	switch s {
	case linkd.NodeSuccess:
		return "Succeeded", "succeeded"
	case linkd.NodeReady:
		return "Running", "running"
	case linkd.NodeWaiting:
		return "Waiting to retry", "running"
	case linkd.NodeErrored:
		return "Errored", "failed"
	case linkd.NodeTimedOut:
		return "Timed out", "failed"
	case linkd.NodeStopped:
		return "Stopped", "neutral"
	case linkd.NodeRejected:
		return "Skipped (when was false)", "neutral"
	}
	return s, "neutral"
}

// prettyJSON indents raw for reading, cut at maxShownJSON; "" when empty.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	if buf.Len() > maxShownJSON {
		return string(bytes.ToValidUTF8(buf.Bytes()[:maxShownJSON], nil)) + fmt.Sprintf("\n… (cut: %d bytes in all; the API returns the whole of it)", buf.Len())
	}
	return buf.String()
}
