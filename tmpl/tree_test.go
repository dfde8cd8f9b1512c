package tmpl

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRenderTree(t *testing.T) {
	var tree any
	src := `{
		"url": "https://{{connection.metadata.instance_url}}/x",
		"count": "{{n.int}}",
		"flag": "{{b}}",
		"obj": "{{obj}}",
		"nested": {"items": ["{{fields.quote}}", "{{fields.braces}}", 7, null, false], "{{key}}": "k"},
		"text": "id={{list.1.id}}"
	}`
	if err := json.Unmarshal([]byte(src), &tree); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(tree)
	got, err := RenderTree(tree, testData())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url":   "https://acme.my.salesforce.com/x",
		"count": 42,
		"flag":  true,
		"obj":   map[string]any{"k": "v"},
		"nested": map[string]any{
			// A value holding `"}` or `{{x}}` stays one literal string.
			"items":   []any{`a"}b`, "{{fields.secret_key}}", 7.0, nil, false},
			"{{key}}": "k", // keys are structure, not templates
		},
		"text": "id=one",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RenderTree =\n%#v\nwant\n%#v", got, want)
	}
	after, _ := json.Marshal(tree)
	if string(before) != string(after) {
		t.Errorf("RenderTree modified its input:\n%s\n%s", before, after)
	}
	// Marshalled, the injected quote is escaped inside its string.
	out, _ := json.Marshal(got.(map[string]any)["nested"])
	if !strings.Contains(string(out), `"a\"}b"`) {
		t.Errorf("marshalled %s", out)
	}
}

func TestRenderTreeErrors(t *testing.T) {
	data := testData()
	tests := []struct {
		tree any
		at   string
		is   error
	}{
		{map[string]any{"a": []any{"ok", "{{nope}}"}}, "$.a[1]", ErrMissing},
		{map[string]any{"a": map[string]any{"b": "{{ x"}}, "$.a.b", nil},
		{[]any{map[any]any{1: 2}}, "$[0]", nil},
		{map[string]any{"a": "{{null}} text"}, "$.a", ErrNull},
	}
	for _, tt := range tests {
		_, err := RenderTree(tt.tree, data)
		if err == nil || !strings.Contains(err.Error(), tt.at) {
			t.Errorf("RenderTree(%v) = %v, want an error at %s", tt.tree, err, tt.at)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("RenderTree(%v) = %v, want %v", tt.tree, err, tt.is)
		}
	}
	var deep any = "x"
	for range MaxTreeDepth + 2 {
		deep = []any{deep}
	}
	if _, err := RenderTree(deep, data); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep tree: %v", err)
	}
	var se *SyntaxError
	if _, err := RenderTree("{{", data); !errors.As(err, &se) {
		t.Errorf("syntax error not wrapped: %v", err)
	}
}
