package tmpl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// MaxTreeDepth caps how deeply RenderTree descends, so a hostile or
// accidental deeply nested document fails with an error instead of
// exhausting the stack.
const MaxTreeDepth = 64

// RenderTree returns a copy of a parsed YAML/JSON tree (map[string]any,
// []any, strings and other scalars) with every string leaf rendered as a
// template (Value: a leaf that is one whole placeholder keeps its value's
// type). Templates are applied to leaves of the parsed tree, never to JSON
// text, and rendered values are never parsed again, so a value holding `"}`
// or `{{x}}` stays a literal string and cannot add structure. Map keys are
// not templates: they are the document's structure. The input tree is not
// modified (a map or list substituted from data is placed as it is, not
// copied); an error names where in the tree it happened.
func RenderTree(tree any, data map[string]any) (any, error) {
	return renderTree(tree, data, "$", 0)
}

func renderTree(node any, data map[string]any, at string, depth int) (any, error) {
	if depth > MaxTreeDepth {
		return nil, fmt.Errorf("tmpl: at %s: tree nested more than %d levels", at, MaxTreeDepth)
	}
	switch n := node.(type) {
	case string:
		t, err := Parse(n)
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", at, err)
		}
		v, err := t.Value(data)
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", at, err)
		}
		return v, nil
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, v := range n {
			r, err := renderTree(v, data, at+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			r, err := renderTree(v, data, at+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case nil, bool, int, int64, uint64, float64, json.Number, time.Time:
		return n, nil
	}
	return nil, fmt.Errorf("tmpl: at %s: unsupported %T in tree (want map[string]any, []any or a scalar)", at, node)
}
