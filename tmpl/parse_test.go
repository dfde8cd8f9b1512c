package tmpl

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		paths []string
	}{
		{"", nil},
		{"plain text", nil},
		{"a }} b } {", nil},
		{"{{x}}", []string{"x"}},
		{"{{ x }}", []string{"x"}},
		{"{{\tx\n}}", []string{"x"}},
		{"https://{{ connection.metadata.instance_url }}/services", []string{"connection.metadata.instance_url"}},
		{"Bearer {{fields.secret_key}}", []string{"fields.secret_key"}},
		{"{{a}}{{b}}{{a}}", []string{"a", "b"}},
		{"{{ A_b-9.0.x }}", []string{"A_b-9.0.x"}},
		{"{{a}}}", []string{"a"}}, // the third } is literal text
		{strings.Repeat("a.", MaxPathDepth-1) + "a", nil},
		{"{{" + strings.Repeat("a.", MaxPathDepth-1) + "a}}", []string{strings.Repeat("a.", MaxPathDepth-1) + "a"}},
		{strings.Repeat("x", MaxLen), nil},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := tpl.Paths(); !slices.Equal(got, tt.paths) {
			t.Errorf("Parse(%q).Paths() = %q, want %q", tt.in, got, tt.paths)
		}
		if tpl.String() != tt.in {
			t.Errorf("String() = %q, want %q", tpl.String(), tt.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{"abc {{ x", 4, "unclosed"},
		{"{{", 0, "unclosed"},
		{"{{ x }", 0, "unclosed"},
		{"ok {{x}} {{ y", 9, "unclosed"},
		{"{{}}", 0, "empty placeholder"},
		{"a{{  }}", 1, "empty placeholder"},
		{"{{.a}}", 2, "empty name"},
		{"{{a.}}", 4, "empty name"},
		{"{{a..b}}", 4, "empty name"},
		{"{{ a b }}", 5, `unexpected 'b'`},
		{"{{ a + 1 }}", 5, `unexpected '+'`},
		{"{{ upper(a) }}", 8, `unexpected '('`},
		{"{{ a | lower }}", 5, `unexpected '|'`},
		{"{{ {{a}} }}", 3, `unexpected '{'`},
		{"{{a}b}}", 3, `unexpected '}'`},
		{"{{ \"a\" }}", 3, `unexpected '"'`},
		{"{{ é }}", 3, `unexpected 'é'`},
		{"{{ a\x00 }}", 4, `unexpected '\x00'`},
		{"{{" + strings.Repeat("a.", MaxPathDepth) + "a}}", 0, "segments"},
		{strings.Repeat("x", MaxLen+1), MaxLen, "limit"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", tt.in, err)
			continue
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %v, want offset %d and %q", tt.in, err, tt.offset, tt.msg)
		}
		if !strings.Contains(err.Error(), "byte") {
			t.Errorf("Parse(%q) error %q does not give the position", tt.in, err)
		}
	}
}
