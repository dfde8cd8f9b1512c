package linkd

import (
	"encoding/json"
	"testing"
)

// A template a user types may read the event's values and nothing else;
// it is checked when saved.
func TestConfigTemplateChecked(t *testing.T) {
	f := &ConfigField{ID: "message_template", FieldType: "textarea", Template: true}
	for v, ok := range map[string]bool{
		`"Order {{event.order.id}} paid"`: true,
		`"no placeholder"`:                true,
		`"{{config.channel}}"`:            false,
		`"{{linked_account.name}}"`:       false,
		`"{{event.a"`:                     false,
		`"{{event.a | upper}}"`:           false,
	} {
		err := ValidateConfigValue("workflows[0].fields.message_template", f, json.RawMessage(v))
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", v, err, ok)
		}
		if err != nil && err.(*Error).Field != "workflows[0].fields.message_template" {
			t.Errorf("%s: error names %q", v, err.(*Error).Field)
		}
	}
}

// The workflow events carry the reference's fields, the return value on
// completion and what failed on an error.
func TestWorkflowEventPayload(t *testing.T) {
	e := &Execution{Tenant: Tenant{OrgID: "o", Env: EnvTest}, ID: "x1", AccountID: "cust", Slug: "slack", ConfigID: "cust",
		WorkflowID: "notify-channel", WorkflowName: "Notify a channel", Status: ExecCompleted, ReturnValue: json.RawMessage(`{"ts":"1"}`)}
	ev := NewWorkflowEvent(e, nil, e.CreatedAt)
	var body map[string]any
	json.Unmarshal(ev.Payload, &body)
	if ev.Type != EventWorkflowCompleted || ev.WorkflowID != "notify-channel" || ev.Slug != "slack" || body["instance_id"] != "x1" ||
		body["status"] != "COMPLETED" || body["workflow_response"].(map[string]any)["ts"] != "1" || body["linked_account_id"] != "cust" {
		t.Fatalf("completed: %+v %s", ev, ev.Payload)
	}
	e.Status, e.Error = ExecErrored, "step post: the app answered 500"
	ev = NewWorkflowEvent(e, &ExecutionNode{StepID: "post", Attempts: 3}, e.CreatedAt)
	body = nil
	json.Unmarshal(ev.Payload, &body)
	if ev.Type != EventWorkflowErrored || body["failed_node"] != "post" || body["attempts"] != float64(3) || body["error"] != e.Error || body["workflow_response"] != nil {
		t.Fatalf("errored: %s", ev.Payload)
	}
}

func TestCheckPayload(t *testing.T) {
	for p, ok := range map[string]bool{``: true, `null`: true, `{"a":1}`: true, `[1]`: false, `{"a":"\u0000"}`: false, `{"a":`: false} {
		_, err := checkPayload(json.RawMessage(p))
		if (err == nil) != ok {
			t.Errorf("checkPayload(%s) = %v, want ok=%v", p, err, ok)
		}
	}
}
