package tmpl

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics on any input, that what it
// accepts renders without panicking, and that accepted templates keep the
// invariants the loader relies on.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{{x}}", "{{ a.b.c }}", "https://{{connection.metadata.instance_url}}/v1",
		"{{", "}}", "{{}}", "{{a..b}}", "{{a}}}", "{{{a}}}", "{{ a b }}", "x{{list.0}}y{{n.int}}",
		"{{null}}", "{{obj}}", "{{n.nan}}", "{{ é }}", "\xff{{a}}",
	} {
		f.Add(s)
	}
	data := testData()
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q) = %v: want a SyntaxError with an offset in range", s, err)
			}
			return
		}
		if tpl.String() != s {
			t.Fatalf("String() = %q, want %q", tpl.String(), s)
		}
		for _, p := range tpl.Paths() {
			if p == "" || strings.Count(p, ".") >= MaxPathDepth || strings.Contains(p, "..") {
				t.Fatalf("Parse(%q): bad path %q", s, p)
			}
		}
		if len(tpl.Paths()) == 0 {
			if got, err := tpl.Render(nil); err != nil || got != s {
				t.Fatalf("Render(%q) without placeholders = %q, %v", s, got, err)
			}
		}
		if _, err := tpl.Render(data); err != nil {
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("Render(%q) = %v: want a PathError", s, err)
			}
		}
		tpl.Value(data)
		RenderTree(map[string]any{"k": []any{s}}, data)
	})
}
