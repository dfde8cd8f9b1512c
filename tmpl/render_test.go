package tmpl

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func testData() map[string]any {
	return map[string]any{
		"connection": map[string]any{
			"metadata": map[string]string{"instance_url": "acme.my.salesforce.com"},
		},
		"fields": map[string]any{
			"secret_key": "sk_live_1",
			"quote":      `a"}b`,
			"braces":     "{{fields.secret_key}}",
			"empty":      "",
		},
		"n": map[string]any{
			"int": 42, "neg": int64(-7), "uint": uint8(255),
			"big":   1e21,
			"small": 0.000001,
			"float": 1.5,
			"f32":   float32(0.1),
			"whole": float64(1000000),
			"num":   json.Number("12345678901234567890"),
			"nan":   math.NaN(),
			"inf":   math.Inf(1),
		},
		"b":     true,
		"f":     false,
		"null":  nil,
		"list":  []any{"zero", map[string]any{"id": "one"}},
		"obj":   map[string]any{"k": "v"},
		"when":  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"weird": struct{}{},
	}
}

func TestRender(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no placeholders", "no placeholders"},
		{"https://{{ connection.metadata.instance_url }}/services/data", "https://acme.my.salesforce.com/services/data"},
		{"Bearer {{fields.secret_key}}", "Bearer sk_live_1"},
		{"{{fields.quote}}", `a"}b`},
		{"{{fields.braces}}", "{{fields.secret_key}}"}, // values are not templates
		{"[{{fields.empty}}]", "[]"},
		{"{{n.int}} {{n.neg}} {{n.uint}}", "42 -7 255"},
		{"{{n.big}}", "1000000000000000000000"},
		{"{{n.small}}", "0.000001"},
		{"{{n.float}}", "1.5"},
		{"{{n.f32}}", "0.1"},
		{"{{n.whole}}", "1000000"},
		{"{{n.num}}", "12345678901234567890"},
		{"{{b}}/{{f}}", "true/false"},
		{"{{list.0}} {{list.1.id}}", "zero one"},
		{"{{when}}", "2026-01-02T03:04:05Z"},
	}
	data := testData()
	for _, tt := range tests {
		tpl, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		got, err := tpl.Render(data)
		if err != nil {
			t.Errorf("Render(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		in, path string
		err      error
	}{
		{"{{missing}}", "missing", ErrMissing},
		{"x {{fields.nope}}", "fields.nope", ErrMissing},
		{"{{connection.metadata.instance_url.more}}", "connection.metadata.instance_url.more", ErrMissing},
		{"{{connection.metadata.nope}}", "connection.metadata.nope", ErrMissing},
		{"{{null.x}}", "null.x", ErrMissing},
		{"{{list.2}}", "list.2", ErrMissing},
		{"{{list.01}}", "list.01", ErrMissing},
		{"{{list.x}}", "list.x", ErrMissing},
		{"{{null}}", "null", ErrNull},
		{"{{obj}}", "obj", ErrNotScalar},
		{"a{{list}}", "list", ErrNotScalar},
		{"{{connection.metadata}}", "connection.metadata", ErrNotScalar},
		{"{{n.nan}}", "n.nan", ErrNotScalar},
		{"{{n.inf}}", "n.inf", ErrNotScalar},
		{"{{weird}}", "weird", ErrNotScalar},
	}
	data := testData()
	for _, tt := range tests {
		tpl, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		got, err := tpl.Render(data)
		var pe *PathError
		if !errors.As(err, &pe) || pe.Path != tt.path || !errors.Is(err, tt.err) {
			t.Errorf("Render(%q) = %q, %v; want PathError for %q wrapping %v", tt.in, got, err, tt.path, tt.err)
		}
	}
	// Nil data is missing everything, not a panic.
	tpl, _ := Parse("{{a.b}}")
	if _, err := tpl.Render(nil); !errors.Is(err, ErrMissing) {
		t.Errorf("Render(nil) = %v, want ErrMissing", err)
	}
}

func TestValue(t *testing.T) {
	data := testData()
	tests := []struct {
		in   string
		want any
	}{
		{"{{n.int}}", 42},
		{"{{ n.float }}", 1.5},
		{"{{b}}", true},
		{"{{null}}", nil},
		{"{{obj}}", map[string]any{"k": "v"}},
		{"{{list.1}}", map[string]any{"id": "one"}},
		{"{{fields.quote}}", `a"}b`},
		{" {{n.int}}", " 42"}, // text around: a string
		{"{{n.int}}{{n.int}}", "4242"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		got, err := tpl.Value(data)
		if err != nil {
			t.Errorf("Value(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Value(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	tpl, _ := Parse("{{nope}}")
	if _, err := tpl.Value(data); !errors.Is(err, ErrMissing) {
		t.Errorf("Value missing = %v, want ErrMissing", err)
	}
}
