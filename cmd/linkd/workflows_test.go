package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/linkd-dev/linkd"
)

// TestServeRunsWorkflows: the server wires the runner, the outbox and the
// proxy core together: an event fired through the API runs the account's
// workflow against the app (an app file of the operator's own, on
// loopback) without anyone draining anything, and the Workflow Completed
// webhook reaches its receiver with the return value.
func TestServeRunsWorkflows(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var appHits []string
			var hooks []map[string]any
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				appHits = append(appHits, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Key")+" "+string(b))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"id":"n-1"}`))
			}))
			defer app.Close()
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p map[string]any
				json.NewDecoder(r.Body).Decode(&p)
				mu.Lock()
				hooks = append(hooks, p)
				mu.Unlock()
			}))
			defer recv.Close()
			apps := notesApp(t, app.URL, `      - id: add-note
        name: Add a note
        trigger: {event: Note Added}
        steps:
          - id: post
            http: {method: POST, path: /notes, body: {text: "{{event.text}}"}}
          - id: out
            return: {note_id: "{{steps.post.body.id}}"}
`)
			env["LINKD_APPS"] = apps
			env["LINKD_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.0/8"
			key, _, err := cli(t, env, "apikey", "create", "--env", "test", "--name", "flows")
			if err != nil {
				t.Fatal(err)
			}
			key = strings.TrimSpace(key)
			base, _ := serve(t, env)
			do := func(method, path, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("linked_account_id", "cust")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				if res.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
				}
				var out map[string]any
				json.Unmarshal(raw, &out)
				return out
			}
			do("POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`","webhook_events":["Workflow Completed"]}`)
			do("POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust"}`)
			do("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/notes", `{"key":"k-1"}`)
			do("PUT", "/api/v2/public/config", `{"slug":"notes","workflows":[{"id":"add-note","enabled":true}]}`)
			do("POST", "/api/v2/public/application/event", `{"name":"Note Added"}`)
			fired := do("POST", "/api/v2/public/event/trigger", `{"event":"Note Added","payload":{"text":"hello"}}`)
			id := fired["execution_ids"].([]any)[0].(string)
			waitFor(t, "the run to complete", func() bool {
				return do("GET", "/api/v2/public/execution/"+id, "")["status"] == linkd.ExecCompleted
			})
			waitFor(t, "the Workflow Completed webhook", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(hooks) == 1
			})
			mu.Lock()
			defer mu.Unlock()
			if len(appHits) != 1 || appHits[0] != `POST /api/notes k-1 {"text":"hello"}` {
				t.Fatalf("the app got %q", appHits)
			}
			// The metrics saw the run end and its steps, and nothing waits.
			res, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			scraped, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, want := range []string{`linkd_workflow_executions_total{app="notes",status="COMPLETED",workflow="add-note"} 1`,
				`linkd_workflow_queue_runs{state="due"} 0`, `linkd_workflow_queue_age_seconds 0`,
				`linkd_worker_items_total{loop="workflows",outcome="ok"}`, `linkd_workflow_step_attempts_total{app="notes",status="Success",step=`} {
				if !strings.Contains(string(scraped), "\n"+want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			resp, _ := hooks[0]["workflow_response"].(map[string]any)
			if hooks[0]["event"] != linkd.EventWorkflowCompleted || hooks[0]["instance_id"] != id || resp["note_id"] != "n-1" {
				t.Fatalf("webhook %v", hooks[0])
			}
		})
	}
}

// notesApp writes an operator's app file with one key-based app, notes,
// whose API is at appURL/api, and the workflows given (YAML list items at
// the workflows: indent), and returns its path.
func notesApp(t *testing.T, appURL, workflows string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apps.yaml")
	err := os.WriteFile(path, []byte(`apps:
  - slug: notes
    name: Notes
    auth_type: keybased
    enabled_by_default: true
    auth_inputs: [{name: key, label: Key, type: password, required: true}]
    proxy:
      base_url: `+appURL+`/api
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "{{fields.key}}"}
    workflows:
`+workflows), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
