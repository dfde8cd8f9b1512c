package tmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors a PathError wraps, for callers that answer differently (e.g. the
// proxy names a missing connection field in a 400 or 409).
var (
	// ErrMissing: the path leads nowhere in the data. A missing value is an
	// error rather than an empty string, because "https:///v1" or an empty
	// API key sent upstream hides the real problem.
	ErrMissing = errors.New("has no value")
	// ErrNull: the path holds null, which has no text form.
	ErrNull = errors.New("is null")
	// ErrNotScalar: the value is a map, list or other type that has no
	// single text form; placing it into text would leak structure.
	ErrNotScalar = errors.New("is not a string, number or bool")
)

// PathError reports which path could not be rendered and why.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("tmpl: %s %v", e.Path, e.Err) }

func (e *PathError) Unwrap() error { return e.Err }

// Render fills the placeholders from data and returns the text. Values are
// looked up through nested map[string]any and map[string]string (and []any
// by a numeric segment); strings are placed as they are, numbers in plain
// decimal (never with an exponent), bools as true/false, times in RFC 3339.
func (t *Template) Render(data map[string]any) (string, error) {
	return t.RenderEscaped(data, nil)
}

// RenderEscaped is Render with every placeholder's text passed through
// escape (url.PathEscape for a URL path, say), so that a value cannot add
// path segments or a query; literal text is left as written.
func (t *Template) RenderEscaped(data map[string]any, escape func(string) string) (string, error) {
	if len(t.parts) == 1 && t.parts[0].path == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := lookup(data, p)
		if err != nil {
			return "", err
		}
		s, err := format(v)
		if err != nil {
			return "", &PathError{Path: p.name, Err: err}
		}
		if escape != nil {
			s = escape(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Value is Render for templates that may stand for a whole value: when the
// template is exactly one placeholder (no text around it), it returns the
// value with its type (a number stays a number, a map stays a map, null
// stays nil), as JSON trees need; otherwise it returns the rendered string.
// A map or list returned is the caller's data itself, not a copy.
func (t *Template) Value(data map[string]any) (any, error) {
	if len(t.parts) == 1 && t.parts[0].path != nil {
		return lookup(data, t.parts[0])
	}
	return t.Render(data)
}

// lookup follows p's path through data.
func lookup(data map[string]any, p part) (any, error) {
	var cur any = data
	for i, seg := range p.path {
		var ok bool
		switch m := cur.(type) {
		case map[string]any:
			cur, ok = m[seg]
		case map[string]string:
			cur, ok = m[seg]
		case []any:
			var n int
			n, ok = index(seg, len(m))
			if ok {
				cur = m[n]
			}
		case nil:
			if i > 0 {
				return nil, &PathError{Path: p.name, Err: fmt.Errorf("%w (%s is null)", ErrMissing, strings.Join(p.path[:i], "."))}
			}
		default:
			return nil, &PathError{Path: p.name, Err: fmt.Errorf("%w (%s is a %T)", ErrMissing, strings.Join(p.path[:i], "."), cur)}
		}
		if !ok {
			return nil, &PathError{Path: p.name, Err: ErrMissing}
		}
	}
	return cur, nil
}

// index parses a list index segment: plain decimal digits only, in range.
func index(seg string, n int) (int, bool) {
	if seg == "" || len(seg) > 9 || (len(seg) > 1 && seg[0] == '0') {
		return 0, false
	}
	i := 0
	for _, c := range []byte(seg) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, i < n
}

// format gives a scalar its text form.
func format(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case json.Number:
		return x.String(), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case nil:
		return "", ErrNull
	}
	return "", fmt.Errorf("%w (it is a %T)", ErrNotScalar, v)
}

// formatFloat writes f in plain decimal: JSON and YAML decode every number
// as float64, and "1e+06" in a URL or header is never what was meant.
func formatFloat(f float64, bits int) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w (it is %v)", ErrNotScalar, f)
	}
	return strconv.FormatFloat(f, 'f', -1, bits), nil
}
