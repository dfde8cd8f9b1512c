package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// The Executions pages: the organization's runs (GET /executions) and one
// account's (GET /account/{id}/executions), newest first, filtered by
// status, app, workflow and date, paged by number as the API pages
// (GET /api/v2/public/execution). Both read through linkd.Reader's
// ListExecutions, scoped by the session's tenant.

// execPageSize is how many runs a list page shows.
const execPageSize = 25

// execFilter is the list's filter as the query string carries it, so that
// a filtered list is a link and works without JavaScript.
type execFilter struct {
	Status   string
	App      string // slug
	Workflow string // workflow id
	From, To string // yyyy-mm-dd, inclusive
	Page     int
}

// execStatuses are the statuses a filter may name, in the order the
// select lists them.
var execStatuses = []string{linkd.ExecRunning, linkd.ExecStopping, linkd.ExecCompleted, linkd.ExecErrored, linkd.ExecStopped, linkd.ExecTimedOut}

// parseExecFilter reads the filter into the store's; errors name the
// field.
func parseExecFilter(v url.Values) (execFilter, linkd.ExecutionFilter, error) {
	ef := execFilter{Status: v.Get("status"), App: v.Get("app"), Workflow: v.Get("workflow"), From: v.Get("from"), To: v.Get("to"), Page: 1}
	f := linkd.ExecutionFilter{WorkflowID: ef.Workflow, Limit: execPageSize}
	if ef.Status != "" {
		f.Status = ef.Status
		if !slices.Contains(execStatuses, ef.Status) {
			return ef, f, linkd.FieldError("status", "Pick a status from the list.")
		}
	}
	if ef.App != "" {
		f.Slugs = []string{ef.App}
	}
	for _, d := range []struct {
		name, v string
		dst     **time.Time
		days    int
	}{{"from", ef.From, &f.From, 0}, {"to", ef.To, &f.To, 1}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			return ef, f, linkd.FieldError(d.name, "Use a date like 2026-01-31.")
		}
		t = t.AddDate(0, 0, d.days)
		*d.dst = &t
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1<<20 {
			return ef, f, linkd.FieldError("page", "The page must be a whole number from 1.")
		}
		ef.Page = n
	}
	f.Page = ef.Page
	return ef, f, nil
}

// Active reports whether any filter is set.
func (ef execFilter) Active() bool {
	return ef.Status != "" || ef.App != "" || ef.Workflow != "" || ef.From != "" || ef.To != ""
}

// link returns base with the filter and page n.
func (ef execFilter) link(base string, page int) string {
	q := url.Values{}
	for k, v := range map[string]string{"status": ef.Status, "app": ef.App, "workflow": ef.Workflow, "from": ef.From, "to": ef.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// execRow is one run in a list.
type execRow struct {
	*linkd.Execution
	Link     string
	App      string
	Label    string // the status as people read it
	Tone     string // the status's colour: running, succeeded, failed or neutral
	Ago      string
	Duration string // "" while it runs
}

// workflowOption is one workflow in the filter's select.
type workflowOption struct{ ID, Name, App string }

type executionsData struct {
	// Account is set on an account's tab; nil on the organization's page.
	Account     *linkd.LinkedAccount
	Base        string // the list's path
	Filter      execFilter
	FilterError map[string]string
	Statuses    []string
	Apps        []appOption
	Workflows   []workflowOption
	Rows        []*execRow
	Total       int
	First, Last int // the rows' positions in the whole list
	PrevURL     string
	NextURL     string
	// HasWorkflows: the catalog offers workflows at all (the empty state
	// says how runs start, or that none can).
	HasWorkflows bool
}

// handleExecutions lists the organization's runs.
func (h *Handler) handleExecutions(w http.ResponseWriter, r *http.Request) error {
	return h.listExecutions(w, r, nil)
}

// handleAccountExecutions lists one account's runs (the account page's
// Executions tab); an id of another tenant is not found.
func (h *Handler) handleAccountExecutions(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	return h.listExecutions(w, r, acct)
}

func (h *Handler) listExecutions(w http.ResponseWriter, r *http.Request, acct *linkd.LinkedAccount) error {
	c := current(r)
	data := executionsData{Account: acct, Base: "/executions", Statuses: execStatuses, Apps: h.appOptions()}
	title, nav := "Executions", "executions"
	if acct != nil {
		data.Base, title, nav = accountPath(acct.AccountID)+"/executions", "Executions · "+accountTitle(acct), "accounts"
	}
	for _, a := range h.catalogApps() {
		for _, wf := range a.Workflows {
			data.HasWorkflows = true
			data.Workflows = append(data.Workflows, workflowOption{ID: wf.ID, Name: wf.Name, App: a.Name})
		}
	}
	ef, f, err := parseExecFilter(r.URL.Query())
	data.Filter = ef
	if err != nil {
		data.FilterError, _ = fieldErrors(err)
		return h.render(w, r, http.StatusBadRequest, "executions", Page{Title: title, Nav: nav, Data: data})
	}
	if acct != nil {
		f.AccountID = acct.AccountID
	}
	page, err := h.store.ListExecutions(r.Context(), c.Tenant(), f)
	if err != nil {
		return err
	}
	now := h.now()
	for _, e := range page.Executions {
		data.Rows = append(data.Rows, h.execRow(e, now))
	}
	data.Total = page.Total
	limit, offset := f.Bounds()
	if len(data.Rows) > 0 {
		data.First, data.Last = offset+1, offset+len(data.Rows)
	}
	if ef.Page > 1 {
		data.PrevURL = ef.link(data.Base, min(ef.Page-1, max(1, (page.Total+limit-1)/limit)))
	}
	if offset+limit < page.Total {
		data.NextURL = ef.link(data.Base, ef.Page+1)
	}
	return h.render(w, r, http.StatusOK, "executions", Page{Title: title, Nav: nav, Data: data})
}

// execRow describes a run for a list.
func (h *Handler) execRow(e *linkd.Execution, now time.Time) *execRow {
	row := &execRow{Execution: e, Link: executionPath(e.ID), App: h.appName(e.Slug), Ago: ago(now, e.CreatedAt)}
	row.Label, row.Tone = execStatus(e.Status)
	if e.StartedAt != nil && e.FinishedAt != nil {
		row.Duration = callDuration(e.FinishedAt.Sub(*e.StartedAt))
	}
	return row
}

// executionPath is the page of the run id.
func executionPath(id string) string { return "/executions/" + url.PathEscape(id) }

// execStatus is how a run's status reads and its colour.
func execStatus(s string) (label, tone string) {
	switch s {
	case linkd.ExecRunning:
		return "Running", "running"
	case linkd.ExecStopping:
		return "Stopping", "running"
	case linkd.ExecCompleted:
		return "Completed", "succeeded"
	case linkd.ExecErrored:
		return "Errored", "failed"
	case linkd.ExecTimedOut:
		return "Timed out", "failed"
	case linkd.ExecStopped:
		return "Stopped", "neutral"
	}
	return s, "neutral"
}

// catalogApps lists the catalog's apps; none without a catalog.
func (h *Handler) catalogApps() []*linkd.App {
	if h.cfg.Connections == nil || h.cfg.Connections.Catalog == nil {
		return nil
	}
	return h.cfg.Connections.Catalog.Apps()
}
