package webhooks

import (
	"encoding/json"
	"fmt"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/tmpl"
)

// DefaultBody is a custom endpoint's body when it has none: the event's
// payload, as a default endpoint gets it.
const DefaultBody = "{{event}}"

// Body is what a delivery of ev to w sends. A default endpoint gets the
// event's payload as it is. A custom endpoint gets its Body template
// rendered over {"event": the payload, "linked_account_name": ""}: a body
// that is a JSON document is rendered leaf by leaf (tmpl.RenderTree), so a
// value can never add structure; any other body is one template, and
// "{{event}}" (the default) stands for the whole payload. A template that
// renders to text is sent as that text. linked_account_name is empty
// because events carry ids only (no names leave linkd unasked).
func Body(w *linkd.Webhook, ev *linkd.Event) ([]byte, error) {
	payload := ev.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	if w.Type != "custom" {
		return payload, nil
	}
	var event any
	if err := json.Unmarshal(payload, &event); err != nil {
		return nil, fmt.Errorf("event %s payload: %w", ev.ID, err)
	}
	data := map[string]any{"event": event, "linked_account_name": ""}
	src := w.Body
	if src == "" {
		src = DefaultBody
	}
	var tree any
	if err := json.Unmarshal([]byte(src), &tree); err != nil {
		tree = src // not JSON: the body is one template
	}
	out, err := tmpl.RenderTree(tree, data)
	if err != nil {
		return nil, fmt.Errorf("webhook_body: %w", err)
	}
	if s, ok := out.(string); ok {
		return []byte(s), nil
	}
	return json.Marshal(out)
}
