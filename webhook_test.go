package linkd

import "testing"

func TestWebhookReceives(t *testing.T) {
	ev := &Event{Type: EventConnectionCreated, Slug: "slack", WorkflowID: ""}
	wf := &Event{Type: EventWorkflowErrored, Slug: "slack", WorkflowID: "notify"}
	for _, c := range []struct {
		name string
		w    Webhook
		ev   *Event
		want bool
	}{
		{"subscribed", Webhook{Enabled: true, Events: []string{EventConnectionCreated}}, ev, true},
		{"disabled", Webhook{Enabled: false, Events: []string{EventConnectionCreated}}, ev, false},
		{"not subscribed", Webhook{Enabled: true, Events: []string{EventConnectionDeleted}}, ev, false},
		{"its app", Webhook{Enabled: true, Events: []string{EventConnectionCreated}, Slug: "slack"}, ev, true},
		{"another app", Webhook{Enabled: true, Events: []string{EventConnectionCreated}, Slug: "github"}, ev, false},
		{"its workflow", Webhook{Enabled: true, Events: []string{EventWorkflowErrored}, WorkflowIDs: []string{"notify"}}, wf, true},
		{"another workflow", Webhook{Enabled: true, Events: []string{EventWorkflowErrored}, WorkflowIDs: []string{"sync"}}, wf, false},
		{"no workflow filter", Webhook{Enabled: true, Events: []string{EventWorkflowErrored}}, wf, true},
	} {
		if got := c.w.Receives(c.ev); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for _, e := range WebhookEvents {
		if back, ok := EventFromKebab(EventKebab(e)); !ok || back != e {
			t.Errorf("%q -> %q -> %q", e, EventKebab(e), back)
		}
	}
	if EventKebab(EventConnectionCreated) != "connection-created" {
		t.Errorf("kebab: %q", EventKebab(EventConnectionCreated))
	}
}
