// Package tmpl is linkd's one template language: literal text with
// {{ path }} placeholders filled from nested data, used by the app catalog
// (a proxy base_url over connection.metadata, key-based auth headers over
// fields) and later by webhook bodies and workflow steps.
//
// It is deliberately small. A placeholder holds a dot-separated path and
// nothing else: no function calls, no pipelines, nothing that can loop or
// reach outside the data it is given, so a catalog entry cannot do more
// than pick values. Operator expressions will come later through expr-lang
// as another kind of placeholder; Template keeps its parts as a list so that
// kind can be added without changing the API. Templates are applied to
// parsed trees (RenderTree), never to JSON text, so a value can never inject
// structure.
package tmpl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	// MaxLen caps the length of a template in bytes. Templates are written
	// by operators in the catalog; the cap bounds the work one string can
	// ask for and turns an accidental paste of a large blob into an error.
	MaxLen = 4096
	// MaxPathDepth caps the number of segments in a path: real data is a
	// few levels deep, and the cap bounds each lookup.
	MaxPathDepth = 16
)

// SyntaxError is returned by Parse. Offset is the byte offset in the
// template where the problem was found, so an operator can find it in a
// long catalog value.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("tmpl: at byte %d: %s", e.Offset, e.Msg)
}

// Template is a parsed template. It is immutable and safe for concurrent
// use, so the catalog can parse once at load and render on every call.
type Template struct {
	src   string
	parts []part
}

// part is either literal text or a placeholder (path non-nil).
type part struct {
	lit  string
	path []string // segments; nil for literal text
	name string   // the path as written, dot-joined, for errors and Paths
}

// Parse parses s. Text outside {{ }} is literal (a lone "}}" included);
// inside, white space may surround one path of segments made of ASCII
// letters, digits, '_' and '-', joined by dots.
func Parse(s string) (*Template, error) {
	if len(s) > MaxLen {
		return nil, &SyntaxError{Offset: MaxLen, Msg: fmt.Sprintf("template is %d bytes, more than the limit of %d", len(s), MaxLen)}
	}
	t := &Template{src: s}
	i := 0
	for i < len(s) {
		open := strings.Index(s[i:], "{{")
		if open < 0 {
			t.parts = append(t.parts, part{lit: s[i:]})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{lit: s[i : i+open]})
		}
		start := i + open
		p, next, err := parsePlaceholder(s, start)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
		i = next
	}
	return t, nil
}

// parsePlaceholder parses the placeholder whose "{{" is at s[start:] and
// returns it with the offset just after its "}}".
func parsePlaceholder(s string, start int) (part, int, error) {
	i := skipSpace(s, start+2)
	var segs []string
	segStart := i
	for {
		if i >= len(s) {
			return part{}, 0, &SyntaxError{Offset: start, Msg: `unclosed "{{"`}
		}
		c := s[i]
		switch {
		case isIdent(c):
			i++
			continue
		case c == '.':
			if i == segStart {
				return part{}, 0, emptySegment(s, start, i)
			}
			segs = append(segs, s[segStart:i])
			i++
			segStart = i
			continue
		}
		// End of the path: anything else must be space then "}}".
		if i == segStart {
			if len(segs) > 0 {
				return part{}, 0, emptySegment(s, start, i)
			}
			if rest := skipSpace(s, i); strings.HasPrefix(s[rest:], "}}") {
				return part{}, 0, &SyntaxError{Offset: start, Msg: "empty placeholder: want a path such as {{ fields.api_key }}"}
			}
		} else {
			segs = append(segs, s[segStart:i])
		}
		i = skipSpace(s, i)
		if strings.HasPrefix(s[i:], "}}") {
			break
		}
		if i >= len(s) || s[i:] == "}" {
			return part{}, 0, &SyntaxError{Offset: start, Msg: `unclosed "{{"`}
		}
		r, _ := utf8.DecodeRuneInString(s[i:])
		return part{}, 0, &SyntaxError{Offset: i, Msg: fmt.Sprintf("unexpected %q in placeholder: a path is names of letters, digits, '_' and '-' joined by dots, with no expressions", r)}
	}
	if len(segs) > MaxPathDepth {
		return part{}, 0, &SyntaxError{Offset: start, Msg: fmt.Sprintf("path has %d segments, more than the limit of %d", len(segs), MaxPathDepth)}
	}
	return part{path: segs, name: strings.Join(segs, ".")}, i + 2, nil
}

func emptySegment(s string, start, i int) error {
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("empty name in path %q: dots must separate names", strings.TrimSpace(s[start+2:i]))}
}

func isIdent(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// Paths returns the paths the template uses, each once, in order of first
// use, so a loader can check at load time that a template only reads the
// namespaces its context provides (e.g. only connection.metadata.* and
// fields.* in a proxy block).
func (t *Template) Paths() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.parts {
		if p.path != nil && !seen[p.name] {
			seen[p.name] = true
			out = append(out, p.name)
		}
	}
	return out
}
