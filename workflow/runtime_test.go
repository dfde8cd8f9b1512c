package workflow_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// endpoint subscribes a webhook endpoint to the workflow events.
func (f *fixture) endpoint(tn linkd.Tenant) *linkd.Webhook {
	f.t.Helper()
	url, events := "http://127.0.0.1:9/hook", []string{linkd.EventWorkflowCompleted, linkd.EventWorkflowErrored, linkd.EventWorkflowStopped, linkd.EventWorkflowTimedOut}
	w, _, err := f.svcs.Webhooks.Create(f.t.Context(), tn, "test", linkd.WebhookInput{URL: &url, Events: &events})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// announced lists the event types the endpoint was sent, oldest first.
func (f *fixture) announced(tn linkd.Tenant, w *linkd.Webhook) []string {
	f.t.Helper()
	p, err := f.store.DeliveryLog(f.t.Context(), tn, w.ID, linkd.DeliveryFilter{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, d := range p.Deliveries {
		out = append(out, d.EventType)
	}
	slices.Reverse(out)
	return out
}

func (f *fixture) stripe(account string) {
	f.t.Helper()
	f.account(f.tn, account)
	f.connect(f.tn, account, "stripe", map[string]string{"secret_key": "sk_test_1"})
	f.enable(f.tn, account, "stripe", "sync-customers", nil, nil)
}

// TestRetries: a failed step is a row due again (Retry-After honoured,
// else the policy's backoff), never a sleep; the clock moves, not time.
func TestRetries(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.stripe("s1")
		hook := f.endpoint(f.tn)
		f.apps.on("GET", "/stripe/v1/customers",
			reply{429, map[string]string{"Retry-After": "120"}, `{"error":{"message":"slow down"}}`},
			reply{503, nil, `{}`},
			reply{200, nil, `{"data":[{"id":"cus_9"}]}`})
		execs := f.trigger(f.tn, "s1", "Customer Lookup", map[string]any{"email": "a@x.example"})
		start := f.clock()
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecRunning || e.Attempt != 1 || e.NextAt.Before(start.Add(120*time.Second)) || e.Nodes[0].Status != linkd.NodeWaiting {
			t.Fatalf("after a 429: %s attempt %d next %s; %s", e.Status, e.Attempt, e.NextAt.Sub(start), nodesOf(e))
		}
		f.advance(119 * time.Second)
		f.drain()
		if n := len(f.apps.requests()); n != 1 {
			t.Fatalf("%d requests before Retry-After passed", n)
		}
		f.advance(2 * time.Second)
		f.drain() // 503: the policy's backoff, 10-20s
		e = f.get(f.tn, execs[0].ID)
		if e.Attempt != 2 || e.Nodes[0].Status != linkd.NodeWaiting || e.Nodes[0].Error == "" {
			t.Fatalf("after a 503: attempt %d; %s", e.Attempt, nodesOf(e))
		}
		f.advance(21 * time.Second)
		f.drain()
		e = f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecCompleted || e.Nodes[0].Attempts != 3 || e.Nodes[0].MaxAttempts != 3 || !jsonEq(e.ReturnValue, `{"customer_id":"cus_9"}`) {
			t.Fatalf("after the third attempt: %s %s; %s", e.Status, e.ReturnValue, nodesOf(e))
		}
		if got := f.announced(f.tn, hook); !slices.Equal(got, []string{linkd.EventWorkflowCompleted}) {
			t.Fatalf("events %v", got)
		}
		f.obsMu.Lock()
		if !slices.Equal(f.observed, []string{"find Waiting", "find Waiting", "find Success", "match Success", "result Success", "end COMPLETED"}) {
			t.Errorf("observed %v", f.observed)
		}
		f.obsMu.Unlock()

		// Attempts run out: ERRORED, announced once.
		f.apps.reset()
		f.apps.on("GET", "/stripe/v1/customers", reply{500, nil, `{"error":"down"}`})
		execs = f.trigger(f.tn, "s1", "Customer Lookup", map[string]any{"email": "a@x.example"})
		for range 3 {
			f.drain()
			f.advance(time.Minute)
		}
		e = f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecErrored || e.Nodes[0].Status != linkd.NodeErrored || e.Nodes[0].Attempts != 3 || len(f.apps.requests()) != 3 {
			t.Fatalf("attempts ran out: %s (%d requests); %s", e.Status, len(f.apps.requests()), nodesOf(e))
		}
		if got := f.announced(f.tn, hook); !slices.Equal(got, []string{linkd.EventWorkflowCompleted, linkd.EventWorkflowErrored}) {
			t.Fatalf("events %v", got)
		}
	})
}

// TestAppRefusals: an app that answers 200 with an error (Slack's "ok":
// false) fails the step; a 4xx is not retried.
func TestAppRefusals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "slack", nil)
		f.enable(f.tn, "cust", "slack", "notify-channel", nil, map[string]any{"channel": "C1"})
		f.apps.on("POST", "/slack/chat.postMessage", reply{200, nil, `{"ok":false,"error":"channel_not_found"}`})
		execs := f.trigger(f.tn, "cust", "Notify Channel", map[string]any{"text": "hi"})
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecErrored || len(f.apps.requests()) != 1 || e.Nodes[1].Status != linkd.NodeErrored {
			t.Fatalf("ok false: %s; %s", e.Status, nodesOf(e))
		}
		if got := f.apps.requests()[0].Body["text"]; got != "hi" {
			t.Fatalf("text without a template: %v", got)
		}
	})
}

// TestRefreshOn401: an expired access token is refreshed once through
// the proxy core, and the step goes through.
func TestRefreshOn401(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "notion", nil)
		f.enable(f.tn, "cust", "notion", "create-pages", nil, map[string]any{"database_id": "db"})
		f.apps.on("POST", "/notion/v1/pages", reply{200, nil, `{"id":"p1","url":"u"}`})
		f.apps.mu.Lock()
		f.apps.token = "not-yet-issued"
		f.apps.mu.Unlock()
		execs := f.trigger(f.tn, "cust", "Page Requested", map[string]any{"title": "T"})
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		got := f.apps.requests()
		if e.Status != linkd.ExecCompleted || f.apps.refreshes != 1 || len(got) != 2 || got[1].Header.Get("Authorization") != "Bearer fresh-1" {
			t.Fatalf("%s, %d refreshes, %d requests; %s", e.Status, f.apps.refreshes, len(got), nodesOf(e))
		}
		if got[0].Header.Get("Idempotency-Key") != got[1].Header.Get("Idempotency-Key") {
			t.Fatal("the repeat after a refresh has another Idempotency-Key")
		}
	})
}

// TestWhenGuards: a false guard skips the step (Rejected), and a later
// step's guard picks the other branch.
func TestWhenGuards(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "airtable", map[string]string{"personal_access_token": "pat"})
		f.enable(f.tn, "cust", "airtable", "sync-records", map[string]any{"base_id": "app1"}, map[string]any{"table": "T"})
		f.apps.on("POST", "/airtable/v0/app1/T", reply{200, nil, `{"records":[{"id":"recN"}]}`})
		execs := f.trigger(f.tn, "cust", "Record Changed", map[string]any{"fields": map[string]any{"Name": "x"}})
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		got := f.apps.requests()
		if e.Status != linkd.ExecCompleted || len(got) != 1 || got[0].Method != "POST" || e.Nodes[0].Status != linkd.NodeRejected ||
			e.Nodes[1].Status != linkd.NodeSuccess || !jsonEq(e.ReturnValue, `{"record_id":"recN"}`) {
			t.Fatalf("%s %s; %s", e.Status, e.ReturnValue, nodesOf(e))
		}
		if _, ok := got[0].Body["performUpsert"]; ok {
			t.Fatal("create sent performUpsert")
		}
	})
}

// TestStop: a queued run stops at once; a running one between steps.
func TestStop(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		hook := f.endpoint(f.tn)
		f.connect(f.tn, "cust", "slack", nil)
		f.enable(f.tn, "cust", "slack", "notify-channel", nil, map[string]any{"channel": "C1"})
		f.apps.on("POST", "/slack/chat.postMessage", reply{200, nil, `{"ok":true,"channel":"C1","ts":"1"}`})
		execs := f.trigger(f.tn, "cust", "Notify Channel", map[string]any{"text": "hi"})
		e, err := f.svcs.Executions.Stop(t.Context(), f.tn, "test", execs[0].ID)
		if err != nil || e.Status != linkd.ExecStopped {
			t.Fatalf("stop a queued run: %+v, %v", e, err)
		}
		f.drain()
		if n := len(f.apps.requests()); n != 0 {
			t.Fatalf("a stopped run sent %d requests", n)
		}
		// Stopped while its post is in flight: the post's answer is kept,
		// the return step never runs.
		execs = f.trigger(f.tn, "cust", "Notify Channel", map[string]any{"text": "hi"})
		f.apps.mu.Lock()
		f.apps.onRequest = func(seen) {
			if e, err := f.svcs.Executions.Stop(context.Background(), f.tn, "test", execs[0].ID); err != nil || e.Status != linkd.ExecStopping {
				t.Errorf("stop a running run: %+v, %v", e, err)
			}
		}
		f.apps.mu.Unlock()
		f.drain()
		e = f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecStopped || len(e.Nodes) != 2 || e.Nodes[1].Status != linkd.NodeSuccess || e.ReturnValue != nil {
			t.Fatalf("stopped between steps: %s %s; %s", e.Status, e.ReturnValue, nodesOf(e))
		}
		if got := f.announced(f.tn, hook); !slices.Equal(got, []string{linkd.EventWorkflowStopped, linkd.EventWorkflowStopped}) {
			t.Fatalf("events %v", got)
		}
		// A rerun runs it again, with the same payload.
		f.apps.mu.Lock()
		f.apps.onRequest = nil
		f.apps.mu.Unlock()
		re, err := f.svcs.Executions.Rerun(t.Context(), f.tn, "test", execs[0].ID)
		if err != nil || re.RerunOf != execs[0].ID {
			t.Fatalf("rerun: %+v, %v", re, err)
		}
		f.drain()
		if e := f.get(f.tn, re.ID); e.Status != linkd.ExecCompleted || !jsonEq(e.Payload, string(execs[0].Payload)) {
			t.Fatalf("rerun: %s %s", e.Status, e.Payload)
		}
	})
}

// TestTimeOut: a run past its deadline ends TIMED_OUT, announced.
func TestTimeOut(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		hook := f.endpoint(f.tn)
		f.stripe("s1")
		execs := f.trigger(f.tn, "s1", "Customer Lookup", map[string]any{"email": "a@x.example"})
		f.advance(linkd.DefaultRunTimeout)
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecTimedOut || e.Nodes[0].Status != linkd.NodeTimedOut || len(f.apps.requests()) != 0 {
			t.Fatalf("%s; %s", e.Status, nodesOf(e))
		}
		if got := f.announced(f.tn, hook); !slices.Equal(got, []string{linkd.EventWorkflowTimedOut}) {
			t.Fatalf("events %v", got)
		}
	})
}

// TestSyncExecution: a direct synchronous run answers with its return
// value; no runner loop starts it meanwhile.
func TestSyncExecution(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.stripe("s1")
		f.apps.on("GET", "/stripe/v1/customers", reply{200, nil, `{"data":[{"id":"cus_7"}]}`})
		e, err := f.svcs.Executions.Execute(t.Context(), f.tn, "test", linkd.ExecuteInput{AccountID: "s1", WorkflowID: "sync-customers",
			Payload: []byte(`{"email":"a@x.example"}`), Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		f.drain() // not due: the caller's instance runs it
		if n := len(f.apps.requests()); n != 0 {
			t.Fatalf("the loop ran a synchronous run: %d requests", n)
		}
		got, err := f.runner.RunSync(t.Context(), f.tn, e.ID, time.Minute)
		if err != nil || got.Status != linkd.ExecCompleted || !jsonEq(got.ReturnValue, `{"customer_id":"cus_7"}`) || got.Type != linkd.ExecSync {
			t.Fatalf("sync: %+v, %v", got, err)
		}
		// A workflow that is off, or unknown, is refused.
		if _, err := f.svcs.Executions.Execute(t.Context(), f.tn, "test", linkd.ExecuteInput{AccountID: "s1", WorkflowID: "invoice-paid-alerts"}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("switched off: %v", err)
		}
		if _, err := f.svcs.Executions.Execute(t.Context(), f.tn, "test", linkd.ExecuteInput{AccountID: "s1", WorkflowID: "sync-contacts"}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("ambiguous id: %v", err)
		}
	})
}

// TestResumeAfterCrash: an instance that dies in a step leaves the steps
// before it committed; another instance resumes at that step once the
// lease runs out, with the same Idempotency-Key, and does not repeat the
// committed steps.
func TestResumeAfterCrash(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "slack", nil)
		f.enable(f.tn, "cust", "slack", "notify-channel", nil, map[string]any{"channel": "C1", "message_template": "n={{event.n}}"})
		f.apps.on("POST", "/slack/chat.postMessage", reply{200, nil, `{"ok":true,"channel":"C1","ts":"1"}`})
		execs := f.trigger(f.tn, "cust", "Notify Channel", map[string]any{"n": 1})
		ctx, crash := context.WithCancel(t.Context())
		f.apps.mu.Lock()
		f.apps.onRequest = func(seen) { crash() }
		f.apps.mu.Unlock()
		f.runner.Drain(ctx) // dies in the post step
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecRunning || e.Step != 1 || len(e.Nodes) != 1 || e.LeaseOwner != "test" {
			t.Fatalf("after the crash: %s step %d owner %q; %s", e.Status, e.Step, e.LeaseOwner, nodesOf(e))
		}
		f.apps.mu.Lock()
		f.apps.onRequest = nil
		f.apps.mu.Unlock()
		other := workflow.NewRunner(store, workflow.Options{Catalog: f.cat, Caller: f.runnerCaller(), Now: f.clock},
			worker.Options{Owner: "other", Lease: time.Minute})
		if n, _ := other.Drain(t.Context()); n != 0 {
			t.Fatalf("another instance took a leased run (%d)", n)
		}
		f.advance(2 * time.Minute)
		if _, err := other.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		e = f.get(f.tn, execs[0].ID)
		got := f.apps.requests()
		if e.Status != linkd.ExecCompleted || len(got) != 2 || got[0].Header.Get("Idempotency-Key") != got[1].Header.Get("Idempotency-Key") ||
			e.Nodes[0].Attempts != 1 || got[1].Body["text"] != "n=1" {
			t.Fatalf("resumed: %s, %d requests; %s", e.Status, len(got), nodesOf(e))
		}
	})
}

var _ = connect.CredentialsOptions{}

// jsonEq compares JSON by value (PostgreSQL's jsonb rewrites the text).
func jsonEq(got []byte, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}

// TestConnectionLifecycle: a workflow whose trigger is a new connection is
// queued in the connection's transaction, for the configs that have it on.
func TestConnectionLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "lcapp", map[string]string{"key": "k1"})
		page, _ := store.ListExecutions(t.Context(), f.tn, linkd.ExecutionFilter{})
		if page.Total != 0 {
			t.Fatalf("%d runs before the workflow was on", page.Total)
		}
		f.enable(f.tn, "cust", "lcapp", "welcome", nil, nil)
		f.connect(f.tn, "cust", "lcapp", map[string]string{"key": "k2"}) // connected again, new keys
		page, err := store.ListExecutions(t.Context(), f.tn, linkd.ExecutionFilter{})
		if err != nil || page.Total != 1 || page.Executions[0].Source != linkd.SourceConnection || page.Executions[0].EventName != linkd.EventConnectionCreated {
			t.Fatalf("runs after reconnecting: %+v, %v", page, err)
		}
		f.drain()
		got := f.apps.requests()
		if e := f.get(f.tn, page.Executions[0].ID); e.Status != linkd.ExecCompleted || len(got) != 1 || got[0].Path != "/lcapp/hello" ||
			got[0].Body["account"] != "cust" || got[0].Body["event"] != linkd.EventConnectionCreated || got[0].Header.Get("X-Key") != "k2" {
			t.Fatalf("%s; %+v", e.Status, got)
		}
	})
}

// TestStopWhileWaiting: a run stopped during an attempt that fails and
// would wait for a retry stops at once instead.
func TestStopWhileWaiting(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.stripe("s1")
		f.apps.on("GET", "/stripe/v1/customers", reply{503, map[string]string{"Retry-After": "3000"}, `{}`})
		execs := f.trigger(f.tn, "s1", "Customer Lookup", map[string]any{"email": "a@x.example"})
		f.apps.mu.Lock()
		f.apps.onRequest = func(seen) { f.svcs.Executions.Stop(context.Background(), f.tn, "test", execs[0].ID) }
		f.apps.mu.Unlock()
		f.drain() // the attempt fails, the stop is found, the run ends
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecStopped || len(f.apps.requests()) != 1 {
			t.Fatalf("%s after %d requests; %s", e.Status, len(f.apps.requests()), nodesOf(e))
		}
	})
}

// TestStepTimeout: a step whose app does not answer in the step's time
// ends the run TIMED_OUT when no retry is left.
func TestStepTimeout(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		hook := f.endpoint(f.tn)
		f.connect(f.tn, "cust", "lcapp", map[string]string{"key": "k1"})
		f.enable(f.tn, "cust", "lcapp", "slow", nil, nil)
		execs := f.trigger(f.tn, "cust", "Slow", map[string]any{})
		f.drain()
		e := f.get(f.tn, execs[0].ID)
		if e.Status != linkd.ExecTimedOut || e.Nodes[0].Status != linkd.NodeTimedOut || e.Nodes[0].Attempts != 1 {
			t.Fatalf("%s; %s", e.Status, nodesOf(e))
		}
		if got := f.announced(f.tn, hook); !slices.Equal(got, []string{linkd.EventWorkflowTimedOut}) {
			t.Fatalf("events %v", got)
		}
	})
}

// TestSchedulesFireOncePerPeriod: two instances' schedules of the same
// workflow queue one run per config and period between them.
func TestSchedulesFireOncePerPeriod(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		f.connect(f.tn, "cust", "slack", nil)
		f.enable(f.tn, "cust", "slack", "sync-users", nil, nil)
		var all []*worker.Schedule
		for _, owner := range []string{"i1", "i2"} {
			all = append(all, workflow.Schedules(f.svcs.Executions, f.cat, worker.Options{Owner: owner, Clock: f.clock})...)
		}
		if len(all) != 2*4 { // the four scheduled shipped workflows, per instance
			t.Fatalf("%d schedules", len(all))
		}
		runs := func() int {
			p, err := store.ListExecutions(t.Context(), f.tn, linkd.ExecutionFilter{WorkflowID: "sync-users"})
			if err != nil {
				t.Fatal(err)
			}
			return p.Total
		}
		for range 2 {
			for _, s := range all {
				if _, err := s.Fire(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := runs(); n != 1 {
			t.Fatalf("%d runs in one period", n)
		}
		f.advance(24 * time.Hour)
		for _, s := range all {
			s.Fire(t.Context())
		}
		if n := runs(); n != 2 {
			t.Fatalf("%d runs after two periods", n)
		}
	})
}
