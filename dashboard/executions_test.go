package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
)

// keyappRuns makes the account id in tn with keyapp connected (key k-1)
// and both its workflows switched on, and defines their event.
func (e *env) keyappRuns(tn linkd.Tenant, id string) {
	e.t.Helper()
	ctx := e.t.Context()
	e.account(tn, id, "Customer "+id, nil)
	on := true
	if tn.Env == linkd.EnvProduction { // apps are on by default in test only
		if _, err := e.conns.PutSettings(ctx, tn, "test", "keyapp", connect.SettingsInput{Enabled: &on}); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.conns.SaveKeys(ctx, tn, "connect:"+linkd.NewID(), id, "keyapp", map[string]json.RawMessage{"key": json.RawMessage(`"k-1"`)}); err != nil {
		e.t.Fatal(err)
	}
	in := connect.ConfigInput{Workflows: []connect.WorkflowInput{{ID: "record-order", Enabled: &on}, {ID: "always-fails", Enabled: &on}}}
	if _, _, err := e.conns.PutConfig(ctx, tn, "test", id, "keyapp", id, in, false); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svcs.Executions.PutEventDef(ctx, tn, "test", "", linkd.EventDefInput{Name: "Order Placed"}); err != nil && linkd.ErrorCode(err) != linkd.EEXISTS {
		e.t.Fatal(err)
	}
}

// orderPlaced fires Order Placed for the account and returns its runs by
// workflow id.
func (e *env) orderPlaced(tn linkd.Tenant, id, order string) map[string]*linkd.Execution {
	e.t.Helper()
	_, execs, err := e.svcs.Executions.Trigger(e.t.Context(), tn, "test", linkd.TriggerInput{AccountID: id, Event: "Order Placed",
		Payload: json.RawMessage(`{"order_id":"` + order + `"}`)})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*linkd.Execution{}
	for _, x := range execs {
		out[x.WorkflowID] = x
	}
	if len(out) != 2 {
		e.t.Fatalf("Order Placed queued %d runs", len(execs))
	}
	return out
}

func (e *env) drainRuns() {
	e.t.Helper()
	if _, err := e.flows.Drain(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) execution(tn linkd.Tenant, id string) *linkd.Execution {
	e.t.Helper()
	x, err := e.store.Execution(e.t.Context(), tn, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return x
}

// get fetches a dashboard page with c and returns its status and body.
func (e *env) get(c *http.Client, path string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, body(e.t, resp)
}

var execRowRE = regexp.MustCompile(`<tr class="exec-row" id="exec-([^"]+)"`)

// execRows lists the run ids a list page shows, in order.
func execRows(page string) []string {
	var out []string
	for _, m := range execRowRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestExecutionsHTTP covers the Executions pages without a browser: the
// account card from real rows, the lists with their filters and pages,
// a run's steps with inputs, outputs and errors, Stop and Rerun through
// the service, and tenant isolation (another tenant's run is not found
// and cannot be stopped or rerun).
func TestExecutionsHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		e.user("ada@example.com", "correct horse battery")
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		e.keyappRuns(e.test, "acme-001")

		// Before any run: useful empty states, and the card says so.
		if st, b := e.get(c, "/executions"); st != http.StatusOK || !strings.Contains(b, "No runs yet") || !strings.Contains(b, "POST /api/v2/public/event") {
			t.Fatalf("empty list: %d\n%s", st, b)
		}
		if _, b := e.get(c, "/account/acme-001"); !strings.Contains(b, `<dd class="acct-metric-value">0</dd>`) || !strings.Contains(b, "None yet") ||
			strings.Contains(b, "Executions appear here once workflows run") || !strings.Contains(b, `href="/account/acme-001/executions"`) {
			t.Fatalf("account card without runs:\n%s", b)
		}

		// A queued run: its steps are pending, and it can be stopped.
		runs := e.orderPlaced(e.test, "acme-001", "o-1")
		rec, fails := runs["record-order"], runs["always-fails"]
		st, b := e.get(c, "/executions/"+rec.ID)
		if st != http.StatusOK || !strings.Contains(b, "Record the order") || !strings.Contains(b, ">Running<") ||
			strings.Count(b, ">Pending<") != 2 || !strings.Contains(b, `href="/executions/`+rec.ID+`/stop"`) {
			t.Fatalf("queued run: %d\n%s", st, b)
		}
		if st, b := e.get(c, "/executions/"+rec.ID+"/stop"); st != http.StatusOK || !strings.Contains(b, "Stop this run of Record the order?") ||
			!strings.Contains(b, `action="/executions/`+rec.ID+`/stop"`) {
			t.Fatalf("stop confirmation: %d\n%s", st, b)
		}
		resp := e.post(c, "/executions/"+rec.ID+"/stop", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/executions/"+rec.ID {
			t.Fatalf("stop redirects to %q", loc)
		}
		if x := e.execution(e.test, rec.ID); x.Status != linkd.ExecStopped {
			t.Fatalf("after Stop: %s", x.Status)
		}
		if st, b := e.get(c, "/executions/"+rec.ID); st != http.StatusOK || !strings.Contains(b, "Run stopped.") || !strings.Contains(b, ">Stopped<") ||
			strings.Contains(b, "/stop\"") || strings.Count(b, ">Not reached<") != 2 {
			t.Fatalf("stopped run:\n%s", b)
		}

		// The other run fails at the app (503, one attempt): its step shows
		// the error and the app's answer.
		e.drainRuns()
		if x := e.execution(e.test, fails.ID); x.Status != linkd.ExecErrored {
			t.Fatalf("always-fails: %s", x.Status)
		}
		if _, b := e.get(c, "/executions/"+fails.ID); !strings.Contains(b, ">Errored<") || !strings.Contains(b, "1 of 1 attempt") ||
			!strings.Contains(b, `class="exec-step-error`) || !strings.Contains(b, "503") {
			t.Fatalf("errored run:\n%s", b)
		}

		// Rerun the stopped one: a new run, shown at once, that completes.
		if st, b := e.get(c, "/executions/"+rec.ID+"/rerun"); st != http.StatusOK || !strings.Contains(b, "Run Record the order again?") {
			t.Fatalf("rerun confirmation: %d\n%s", st, b)
		}
		resp = e.post(c, "/executions/"+rec.ID+"/rerun", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		loc := resp.Header.Get("Location")
		newID := strings.TrimPrefix(loc, "/executions/")
		if newID == loc || newID == rec.ID {
			t.Fatalf("rerun redirects to %q", loc)
		}
		e.drainRuns()
		x := e.execution(e.test, newID)
		if x.Status != linkd.ExecCompleted || x.RerunOf != rec.ID {
			t.Fatalf("rerun: %s of %q", x.Status, x.RerunOf)
		}
		_, b = e.get(c, "/executions/"+newID)
		for _, want := range []string{"Rerun queued", ">Completed<", "Succeeded", "/orders", "o-1", "acme-001", "Return value", `&#34;ok&#34;: true`, `href="/executions/` + rec.ID + `"`} {
			if !strings.Contains(b, want) {
				t.Fatalf("completed run lacks %q:\n%s", want, b)
			}
		}
		if strings.Contains(b, "k-1") {
			t.Fatalf("the run's page shows the connection's key:\n%s", b)
		}

		// The lists: newest first, filtered, paged by number.
		if _, b := e.get(c, "/executions"); !slices.Equal(execRows(b), []string{newID, fails.ID, rec.ID}) && !slices.Equal(execRows(b), []string{newID, rec.ID, fails.ID}) {
			t.Fatalf("list = %v", execRows(b))
		}
		for q, want := range map[string][]string{
			"status=ERRORED":                         {fails.ID},
			"status=STOPPED&workflow=record-order":   {rec.ID},
			"workflow=record-order&status=COMPLETED": {newID},
			"app=stripe":                             nil,
		} {
			_, b := e.get(c, "/executions?"+q)
			if got := execRows(b); !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", q, got, want)
			}
			if want == nil && !strings.Contains(b, "No runs match") {
				t.Fatalf("%s: no empty state:\n%s", q, b)
			}
		}
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		if _, b := e.get(c, "/executions?from="+tomorrow); len(execRows(b)) != 0 {
			t.Fatalf("runs from tomorrow: %v", execRows(b))
		}
		if _, b := e.get(c, "/executions?to="+tomorrow+"&app=keyapp"); len(execRows(b)) != 3 {
			t.Fatalf("runs to tomorrow: %v", execRows(b))
		}
		for q, field := range map[string]string{"from=31/01/2026": "from_err", "status=DONE": "status_err", "page=0": "page_err"} {
			if st, b := e.get(c, "/executions?"+q); st != http.StatusBadRequest || !strings.Contains(b, `id="`+field+`"`) {
				t.Fatalf("%s: %d\n%s", q, st, b)
			}
		}
		for i := range 12 {
			e.orderPlaced(e.test, "acme-001", "o-page-"+string(rune('a'+i)))
		}
		_, b = e.get(c, "/executions")
		if got := execRows(b); len(got) != 25 || !strings.Contains(b, "1–25 of 27") || !strings.Contains(b, `href="/executions?page=2"`) {
			t.Fatalf("page 1: %d rows\n%s", len(got), b)
		}
		_, b = e.get(c, "/executions?page=2")
		if got := execRows(b); len(got) != 2 || !slices.Contains(got, rec.ID) || !slices.Contains(got, fails.ID) || !strings.Contains(b, "26–27 of 27") || !strings.Contains(b, `href="/executions"`) {
			t.Fatalf("page 2: %v\n%s", got, b)
		}

		// The account's tab and card.
		e.keyappRuns(e.test, "other-002")
		other := e.orderPlaced(e.test, "other-002", "o-9")
		if _, b := e.get(c, "/account/acme-001/executions"); len(execRows(b)) != 25 || strings.Contains(b, other["record-order"].ID) || !strings.Contains(b, `aria-current="page">Executions`) {
			t.Fatalf("account tab: %v\n%s", execRows(b), b)
		}
		if _, b := e.get(c, "/account/other-002/executions?status=RUNNING"); len(execRows(b)) != 2 {
			t.Fatalf("other account's running: %v", execRows(b))
		}
		if st, _ := e.get(c, "/account/nobody/executions"); st != http.StatusNotFound {
			t.Fatalf("unknown account's tab: %d", st)
		}
		// acme-001: 27 runs; of the 3 that ended, 1 errored.
		if _, b := e.get(c, "/account/acme-001"); !strings.Contains(b, `<dd class="acct-metric-value">27</dd>`) || !strings.Contains(b, "33.3 % errors") ||
			!strings.Contains(b, "out of the last 3 that ended") || !strings.Contains(b, "Event Order Placed fired") || !strings.Contains(b, "2 runs started") ||
			!strings.Contains(b, "Run stopped") || !strings.Contains(b, "Run started again") || !strings.Contains(b, "run "+rec.ID) {
			t.Fatalf("account card:\n%s", b)
		}

		// Tenant isolation: the production environment's run and another
		// organization's are not found, and cannot be stopped or rerun.
		prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
		org2 := &linkd.Org{ID: linkd.NewID(), Name: "Other Inc.", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateOrg(t.Context(), org2); err != nil {
			t.Fatal(err)
		}
		for _, tn := range []linkd.Tenant{prod, {OrgID: org2.ID, Env: linkd.EnvTest}} {
			e.keyappRuns(tn, "acme-001")
			theirs := e.orderPlaced(tn, "acme-001", "secret-order")["record-order"]
			for _, p := range []string{"", "/stop", "/rerun"} {
				if st, b := e.get(c, "/executions/"+theirs.ID+p); st != http.StatusNotFound || strings.Contains(b, "secret-order") {
					t.Fatalf("%s run%s: %d", tn.Env, p, st)
				}
				if p != "" {
					resp := e.post(c, "/executions/"+theirs.ID+p, url.Values{}, e.url)
					wantStatus(t, resp, http.StatusNotFound)
					body(t, resp)
				}
			}
			if x := e.execution(tn, theirs.ID); x.Status != linkd.ExecRunning {
				t.Fatalf("another tenant's run became %s", x.Status)
			}
			if _, b := e.get(c, "/executions?status=RUNNING"); strings.Contains(b, theirs.ID) {
				t.Fatalf("another tenant's run is listed")
			}
			if p, err := s.ListExecutions(t.Context(), tn, linkd.ExecutionFilter{}); err != nil || p.Total != 2 {
				t.Fatalf("%v: %v runs, %v", tn, p, err)
			}
		}
	})
}
