package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// wfApp is a key-based app with a proxy block and the given workflows.
func wfApp(slug, workflows string) string {
	return app(`  - slug: ` + slug + `
    name: Acme
    auth_type: keybased
    auth_inputs: [{name: k, label: K, type: password}]
    proxy:
      base_url: https://api.acme.example
      allowed_hosts: [api.acme.example]
      auth: {header: Authorization, value: "Bearer {{fields.k}}"}
    workflows:
` + workflows)
}

func TestWorkflowCompiles(t *testing.T) {
	c, err := Load(strings.NewReader(wfApp("acme", `      - id: notify
        name: Notify
        trigger: {event: Order Created}
        timeout: 2m
        steps:
          - id: text
            set: {msg: 'render("Order {{event.id}}", {"event": event})'}
          - id: post
            when: event.amount > 10
            retry: {attempts: 4, backoff: 2s, on: [rate_limited]}
            http:
              method: POST
              path: /orders/{{event.id}}/notes
              body: {text: "{{steps.text.body.msg}}", n: 3}
          - id: out
            return: {id: "{{steps.post.body.id}}"}
      - id: poll
        name: Poll
        trigger: {every: 15m}
        steps:
          - id: list
            http: {method: GET, path: /items, paginate: {type: cursor, items: data, cursor: next, param: after}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.App("acme")
	w := a.Workflows[0]
	if w.RunTimeout != 2*time.Minute || w.Trigger.Event != "Order Created" || len(w.Steps) != 3 {
		t.Fatalf("workflow %+v", w)
	}
	text, post, out := w.Steps[0], w.Steps[1], w.Steps[2]
	if text.Kind != "set" || post.Kind != "http" || out.Kind != "return" || !out.Returns {
		t.Fatalf("kinds %s %s %s", text.Kind, post.Kind, out.Kind)
	}
	if post.Policy.Attempts != 4 || post.Policy.Backoff != 2*time.Second || !post.Policy.On[linkd.FailRateLimited] || post.Policy.On[linkd.FailServer] {
		t.Fatalf("policy %+v", post.Policy)
	}
	v, err := text.Values["msg"](map[string]any{"event": map[string]any{"id": "o-1"}})
	if err != nil || v != "Order o-1" {
		t.Fatalf("set msg = %v, %v", v, err)
	}
	for amount, want := range map[float64]bool{5: false, 11: true} {
		got, err := post.Guard(map[string]any{"event": map[string]any{"amount": amount}})
		if err != nil || got != want {
			t.Fatalf("when with amount %v = %v, %v; want %v", amount, got, err, want)
		}
	}
	if p := a.Workflows[1].Trigger.Period; p != 15*time.Minute {
		t.Fatalf("schedule period %s", p)
	}
	if mp := a.Workflows[1].Steps[0].HTTP.Paginate.MaxPages; mp != 10 {
		t.Fatalf("default max_pages %d", mp)
	}
}

func TestWorkflowErrors(t *testing.T) {
	long := strings.Repeat("event.a + ", 60) + "1"
	tests := []struct {
		name, slug, workflows, field, msg string
	}{
		{"reserved slug event", "event", "", "slug", "names an API route"},
		{"reserved slug trigger", "trigger", "", "slug", "names an API route"},
		{"no trigger", "acme", "      - {id: w, name: W, steps: [{id: s, return: 1}]}\n", "workflows[w].trigger", "required"},
		{"two triggers", "acme", "      - {id: w, name: W, trigger: {event: E, every: 1h}, steps: [{id: s, return: 1}]}\n", "workflows[w].trigger", "exactly one"},
		{"schedule too often", "acme", "      - {id: w, name: W, trigger: {every: 1m}, steps: [{id: s, return: 1}]}\n", "workflows[w].trigger.every", "5m"},
		{"bad lifecycle", "acme", "      - {id: w, name: W, trigger: {connection: deleted}, steps: [{id: s, return: 1}]}\n", "workflows[w].trigger.connection", "created"},
		{"no steps", "acme", "      - {id: w, name: W, trigger: {event: E}}\n", "workflows[w].steps", "at least one"},
		{"two actions", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: s, return: 1, set: {a: '1'}}]}\n", "workflows[w].steps[s]", "exactly one action"},
		{"bad expression", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: s, when: 'event.a ==', return: 1}]}\n", "workflows[w].steps[s].when", "expression"},
		{"unknown name in expression", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: s, when: 'secrets.k', return: 1}]}\n", "workflows[w].steps[s].when", "expression"},
		{"long expression", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: s, when: '" + long + "', return: 1}]}\n", "workflows[w].steps[s].when", "more than 512"},
		{"later step", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, return: '{{steps.b.body}}'}, {id: b, return: 1}]}\n", "workflows[w].steps[a].return", "runs before"},
		{"return not last", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, return: 1}, {id: b, return: 1}]}\n", "workflows[w].steps[a].return", "last step"},
		{"credentials in a template", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, http: {method: GET, path: '/x/{{fields.k}}'}}]}\n", "workflows[w].steps[a].http.path", "reads event"},
		{"query in path", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, http: {method: GET, path: '/x?y=1'}}]}\n", "workflows[w].steps[a].http.path", "http.query"},
		{"auth header", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, http: {method: GET, path: /x, headers: {Authorization: x}}}]}\n", "workflows[w].steps[a].http.headers.Authorization", "not a header"},
		{"bad retry kind", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, retry: {attempts: 2, on: [always]}, http: {method: GET, path: /x}}]}\n", "workflows[w].steps[a].retry.on[0]", "not one of"},
		{"bad pagination", "acme", "      - {id: w, name: W, trigger: {event: E}, steps: [{id: a, http: {method: GET, path: /x, paginate: {type: page}}}]}\n", "workflows[w].steps[a].http.paginate.type", "cursor, link or offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wfs := tt.workflows
			if wfs == "" {
				wfs = "      - {id: w, name: W, trigger: {event: E}, steps: [{id: s, return: 1}]}\n"
			}
			_, err := Load(strings.NewReader(wfApp(tt.slug, wfs)))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *catalog.Error", err, err)
			}
			if e.Source != "apps" || e.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v (field %q), want field %q saying %q", err, e.Field, tt.field, tt.msg)
			}
		})
	}
}

// Every shipped workflow has a trigger and steps.
func TestShippedWorkflowsHaveSteps(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range c.Apps() {
		for _, w := range a.Workflows {
			n++
			if w.Trigger == nil || len(w.Steps) == 0 || w.RunTimeout == 0 {
				t.Errorf("%s/%s has no trigger or steps", a.Slug, w.ID)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d shipped workflows", n)
	}
}

// FuzzExpression: any expression compiles or fails without panicking, and
// one past the length cap never reaches the compiler.
func FuzzExpression(f *testing.F) {
	f.Add(`event.amount > 10 && config.x != nil`)
	f.Add(`map(filter(steps.a.body, {#.deleted != true}), {#.id})`)
	f.Add(`render("{{event.a}}", {"event": event})`)
	f.Add(strings.Repeat("(", 600))
	f.Fuzz(func(t *testing.T, src string) {
		fn, err := compileExpr(src, nil)
		if len(src) > linkd.MaxExprLen {
			if err == nil {
				t.Fatalf("an expression of %d bytes compiled", len(src))
			}
			return
		}
		if err == nil {
			fn(map[string]any{"event": map[string]any{"amount": 12.0}})
		}
	})
}
