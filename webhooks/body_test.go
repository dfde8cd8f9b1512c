package webhooks_test

import (
	"encoding/json"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/webhooks"
)

// TestBody: a default endpoint gets the payload; a custom one its template
// rendered over the payload, where a value cannot add JSON structure.
func TestBody(t *testing.T) {
	ev := &linkd.Event{ID: "msg_1", Payload: json.RawMessage(`{"slug":"slack","n":2,"name":"\"},\"x\":{"}`)}
	for _, c := range []struct {
		typ, body, want string
	}{
		{"default", "ignored", `{"slug":"slack","n":2,"name":"\"},\"x\":{"}`},
		{"custom", "", `{"n":2,"name":"\"},\"x\":{","slug":"slack"}`},
		{"custom", "{{event}}", `{"n":2,"name":"\"},\"x\":{","slug":"slack"}`},
		{"custom", `{"app":"{{event.slug}}","count":"{{event.n}}","who":"{{event.name}}","acct":"{{linked_account_name}}"}`,
			`{"acct":"","app":"slack","count":2,"who":"\"},\"x\":{"}`},
		{"custom", "app {{event.slug}}", "app slack"},
	} {
		got, err := webhooks.Body(&linkd.Webhook{Type: c.typ, Body: c.body}, ev)
		if err != nil || string(got) != c.want {
			t.Errorf("%s %q: %s, %v; want %s", c.typ, c.body, got, err, c.want)
		}
	}
	if _, err := webhooks.Body(&linkd.Webhook{Type: "custom", Body: "{{event.missing}}"}, ev); err == nil {
		t.Error("a path the payload lacks rendered")
	}
}
