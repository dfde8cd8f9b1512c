package workflow_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// BenchmarkTrigger measures firing an event that queues one run (the
// trigger's transaction), and BenchmarkTriggerAndRun that and running the
// run: a three-step workflow (set, http to a loopback app, return),
// committed step by step. Rough figures for the bench phase to refine.
func BenchmarkTrigger(b *testing.B) { benchmarkFlows(b, false) }

func BenchmarkTriggerAndRun(b *testing.B) { benchmarkFlows(b, true) }

func benchmarkFlows(b *testing.B, run bool) {
	for _, e := range dbtest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) {
			f := newFixture(b, e.Open(b))
			f.connect(f.tn, "cust", "slack", nil)
			f.enable(f.tn, "cust", "slack", "notify-channel", nil, map[string]any{"channel": "C1"})
			f.apps.on("POST", "/slack/chat.postMessage", reply{200, nil, `{"ok":true,"channel":"C1","ts":"1"}`})
			f.defineEvent(f.tn, "Notify Channel")
			b.ResetTimer()
			for range b.N {
				_, execs, err := f.svcs.Executions.Trigger(b.Context(), f.tn, "bench", linkd.TriggerInput{AccountID: "cust", Event: "Notify Channel",
					Payload: []byte(`{"text":"hi"}`)})
				if err != nil || len(execs) != 1 {
					b.Fatal(err)
				}
				if run {
					if _, err := f.runner.Drain(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
