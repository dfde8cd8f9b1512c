package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// flakyLive is a fixture whose account has lcapp's flaky workflow on (its
// step fails once with a 503, then succeeds) and a runner whose loop runs
// as serve runs it: the real clock, the default poll (10 s), woken by the
// commits that queue runs, until the test ends.
func flakyLive(t *testing.T, store linkd.Store) (*fixture, *workflow.Runner) {
	f := newFixture(t, store)
	f.connect(f.tn, "cust", "lcapp", map[string]string{"key": "k1"})
	f.enable(f.tn, "cust", "lcapp", "flaky", nil, nil)
	f.apps.on("POST", "/lcapp/flaky", reply{503, nil, `{}`}, reply{200, nil, `{"ok":true}`})
	live := workflow.NewRunner(store, workflow.Options{Catalog: f.cat, Caller: f.runnerCaller()}, worker.Options{Owner: "live"})
	f.svcs.Executions.Wake = live.Wake
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); live.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return f, live
}

// TestRetryOnTime: a step that failed is tried again when its backoff
// (1 s here) has passed, not at the runner's next poll (10 s), on an
// instance that nothing else wakes.
func TestRetryOnTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 1 s backoff")
	}
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, _ := flakyLive(t, store)
		start := time.Now()
		execs := f.trigger(f.tn, "cust", "Flaky", map[string]any{})
		for f.get(f.tn, execs[0].ID).Status != linkd.ExecCompleted {
			if time.Since(start) > 5*time.Second {
				e := f.get(f.tn, execs[0].ID)
				t.Fatalf("%s after %s, %d requests, the retry due at +%s; %s", e.Status, time.Since(start).Round(time.Millisecond),
					len(f.apps.requests()), e.NextAt.Sub(start).Round(time.Millisecond), nodesOf(e))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := len(f.apps.requests()); n != 2 {
			t.Fatalf("%d requests, want 2 (the 503, the retry)", n)
		}
		t.Logf("completed %s after the trigger (backoff 1 s, jittered 0.5–1 s)", time.Since(start).Round(10*time.Millisecond))
	})
}

// TestSyncRunFollowsRetry: a synchronous run whose step fails and is
// retried within the limit answers with the run as it ended, not RUNNING
// after the first attempt. The loop beside it runs the retry.
func TestSyncRunFollowsRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 1 s backoff")
	}
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, live := flakyLive(t, store)
		e, err := f.svcs.Executions.Execute(t.Context(), f.tn, "test", linkd.ExecuteInput{AccountID: "cust", WorkflowID: "flaky", Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := live.RunSync(t.Context(), f.tn, e.ID, 10*time.Second)
		if err != nil || got.Status != linkd.ExecCompleted || len(f.apps.requests()) != 2 {
			t.Fatalf("answered %v after %s (%d requests), err %v", got, time.Since(start).Round(time.Millisecond), len(f.apps.requests()), err)
		}
		t.Logf("answered COMPLETED %s after the call (a 503, then the retry after a 0.5–1 s backoff)", time.Since(start).Round(10*time.Millisecond))

		// A retry due after the limit (Retry-After: 120) is not waited for.
		f.apps.on("POST", "/lcapp/flaky", reply{503, map[string]string{"Retry-After": "120"}, `{}`})
		e, err = f.svcs.Executions.Execute(t.Context(), f.tn, "test", linkd.ExecuteInput{AccountID: "cust", WorkflowID: "flaky", Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		got, err = live.RunSync(t.Context(), f.tn, e.ID, 10*time.Second)
		if err != nil || got.Status != linkd.ExecRunning || time.Since(start) > 2*time.Second {
			t.Fatalf("a retry due in 2 minutes: answered %v after %s, err %v", got.Status, time.Since(start).Round(time.Millisecond), err)
		}
	})
}
