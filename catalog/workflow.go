package catalog

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"golang.org/x/net/http/httpguts"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/tmpl"
)

// reservedSlugs are path segments of /api/v2/public/application/… that
// name routes (event definitions, the trigger), not apps.
var reservedSlugs = []string{"event", "trigger"}

// Namespaces a workflow step's templates and expressions read. Credentials
// are not among them: only the proxy's auth puts them on a request.
var stepNamespaces = []string{"event", "config", "linked_account", "connection", "steps"}

// validateWorkflow checks a workflow's trigger and steps and compiles their
// templates and expressions. A workflow without steps is refused: a switch
// that does nothing is not shipped.
func validateWorkflow(a *linkd.App, w *linkd.Workflow, path string, fail failFunc) error {
	tr := w.Trigger
	if tr == nil {
		return fail(path+".trigger", "required: event, every or connection")
	}
	set := 0
	for _, v := range []string{tr.Event, tr.Every, tr.Connection} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return fail(path+".trigger", "set exactly one of event, every and connection")
	}
	switch {
	case tr.Event != "":
		if err := linkd.ValidateEventName(tr.Event); err != nil {
			return fail(path+".trigger.event", "%v", err)
		}
	case tr.Every != "":
		d, err := time.ParseDuration(tr.Every)
		if err != nil || d < linkd.MinScheduleEvery || d > 7*24*time.Hour || (24*time.Hour)%d != 0 && d%(24*time.Hour) != 0 {
			return fail(path+".trigger.every", "%q is not a period between %s and 7 days that divides a day (e.g. 15m, 1h, 24h)", tr.Every, linkd.MinScheduleEvery)
		}
		tr.Period = d
	default:
		if tr.Connection != linkd.TriggerConnectionCreated && tr.Connection != linkd.TriggerConnectionExpired {
			return fail(path+".trigger.connection", "%q is not %s or %s", tr.Connection, linkd.TriggerConnectionCreated, linkd.TriggerConnectionExpired)
		}
	}
	w.RunTimeout = linkd.DefaultRunTimeout
	if w.Timeout != "" {
		d, err := time.ParseDuration(w.Timeout)
		if err != nil || d <= 0 || d > linkd.MaxRunTimeout {
			return fail(path+".timeout", "%q is not a duration up to %s", w.Timeout, linkd.MaxRunTimeout)
		}
		w.RunTimeout = d
	}
	if len(w.Steps) == 0 {
		return fail(path+".steps", "required: at least one step")
	}
	seen := map[string]bool{}
	for i, st := range w.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", path, i)
		if st == nil {
			return fail(sp, "empty step")
		}
		if !stepIDRE.MatchString(st.ID) {
			return fail(sp+".id", "%q is not a valid step id: letters, digits and '_', starting with a letter, at most 64", st.ID)
		}
		sp = fmt.Sprintf("%s.steps[%s]", path, st.ID)
		if seen[st.ID] {
			return fail(sp+".id", "duplicate step id")
		}
		if err := validateStep(a, st, seen, sp, fail); err != nil {
			return err
		}
		if st.Returns && i != len(w.Steps)-1 {
			return fail(sp+".return", "a return step ends the run: it must be the last step")
		}
		seen[st.ID] = true
	}
	return nil
}

func validateStep(a *linkd.App, st *linkd.WorkflowStep, earlier map[string]bool, sp string, fail failFunc) error {
	kinds := 0
	if st.HTTP != nil {
		kinds++
		st.Kind = "http"
	}
	if st.Set != nil {
		kinds++
		st.Kind = "set"
	}
	if st.Return != nil {
		kinds++
		st.Kind, st.Returns = "return", true
	}
	if kinds != 1 {
		return fail(sp, "set exactly one action: http, set or return")
	}
	var err error
	if st.When != "" {
		if st.Guard, err = compileExpr(st.When, earlier); err != nil {
			return fail(sp+".when", "%v", err)
		}
	}
	st.StepTimeout = linkd.DefaultStepTimeout
	if st.Timeout != "" {
		d, err := time.ParseDuration(st.Timeout)
		if err != nil || d <= 0 || d > linkd.MaxStepTimeout {
			return fail(sp+".timeout", "%q is not a duration up to %s", st.Timeout, linkd.MaxStepTimeout)
		}
		st.StepTimeout = d
	}
	st.Policy = linkd.DefaultRetryPolicy()
	if r := st.Retry; r != nil {
		if r.Attempts < 1 || r.Attempts > linkd.MaxStepAttempts {
			return fail(sp+".retry.attempts", "%d is not between 1 and %d", r.Attempts, linkd.MaxStepAttempts)
		}
		st.Policy.Attempts = r.Attempts
		if r.Backoff != "" {
			d, err := time.ParseDuration(r.Backoff)
			if err != nil || d < time.Second || d > time.Hour {
				return fail(sp+".retry.backoff", "%q is not a duration between 1s and 1h", r.Backoff)
			}
			st.Policy.Backoff = d
		}
		if r.On != nil {
			st.Policy.On = map[string]bool{}
			for j, k := range r.On {
				if !slices.Contains(linkd.FailureKinds, k) {
					return fail(fmt.Sprintf("%s.retry.on[%d]", sp, j), "%q is not one of %s", k, strings.Join(linkd.FailureKinds, ", "))
				}
				st.Policy.On[k] = true
			}
		}
	}
	switch st.Kind {
	case "http":
		return validateHTTP(a, st, earlier, sp+".http", fail)
	case "set":
		if len(st.Set) == 0 {
			return fail(sp+".set", "name at least one value")
		}
		st.Values = make(map[string]linkd.Expr, len(st.Set))
		for name, src := range st.Set {
			if !stepIDRE.MatchString(name) {
				return fail(sp+".set."+name, "not a valid name")
			}
			if st.Values[name], err = compileExpr(src, earlier); err != nil {
				return fail(sp+".set."+name, "%v", err)
			}
		}
		return nil
	default:
		tree, err := normalizeTree(st.Return)
		if err != nil {
			return fail(sp+".return", "%v", err)
		}
		st.Return = tree
		return checkTree(tree, earlier, sp+".return", fail)
	}
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func validateHTTP(a *linkd.App, st *linkd.WorkflowStep, earlier map[string]bool, hp string, fail failFunc) error {
	h := st.HTTP
	if a.Proxy == nil {
		return fail(hp, "an http step needs the app's proxy block (base_url, allowed_hosts)")
	}
	if !slices.Contains(httpMethods, h.Method) {
		return fail(hp+".method", "%q is not one of %s", h.Method, strings.Join(httpMethods, ", "))
	}
	if !strings.HasPrefix(h.Path, "/") {
		return fail(hp+".path", "must start with / (it is joined to the app's base URL)")
	}
	if strings.ContainsAny(h.Path, "?#") {
		return fail(hp+".path", "put the query in http.query")
	}
	if err := checkTemplate(h.Path, earlier); err != nil {
		return fail(hp+".path", "%v", err)
	}
	for k, v := range h.Query {
		if err := checkTemplate(v, earlier); err != nil {
			return fail(hp+".query."+k, "%v", err)
		}
	}
	for k, v := range h.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !linkd.ForwardedRequestHeader(http.CanonicalHeaderKey(k)) {
			return fail(hp+".headers."+k, "not a header a step may set")
		}
		if err := checkTemplate(v, earlier); err != nil {
			return fail(hp+".headers."+k, "%v", err)
		}
	}
	if h.Body != nil {
		if h.Method == http.MethodGet {
			return fail(hp+".body", "a GET has no body")
		}
		tree, err := normalizeTree(h.Body)
		if err != nil {
			return fail(hp+".body", "%v", err)
		}
		h.Body = tree
		if h.Form {
			m, ok := tree.(map[string]any)
			if !ok {
				return fail(hp+".body", "a form body is a map of names to values")
			}
			for k, v := range m {
				if _, ok := v.(map[string]any); ok {
					return fail(hp+".body."+k, "a form value is a scalar or a list")
				}
			}
		}
		if err := checkTree(tree, earlier, hp+".body", fail); err != nil {
			return err
		}
	} else if h.Form {
		return fail(hp+".form", "form needs a body")
	}
	if h.OKWhen != "" {
		var err error
		if st.OK, err = compileExprEnv(h.OKWhen, []string{"response", "body", "headers"}); err != nil {
			return fail(hp+".ok", "%v", err)
		}
	}
	if p := h.Paginate; p != nil {
		if h.Method != http.MethodGet {
			return fail(hp+".paginate", "only a GET is paginated")
		}
		if p.Items != "" {
			if _, err := tmpl.Parse("{{" + p.Items + "}}"); err != nil {
				return fail(hp+".paginate.items", "%q is not a body path", p.Items)
			}
		}
		if p.Cursor != "" {
			if _, err := tmpl.Parse("{{" + p.Cursor + "}}"); err != nil {
				return fail(hp+".paginate.cursor", "%q is not a body path", p.Cursor)
			}
		}
		switch p.Type {
		case "cursor":
			if p.Cursor == "" || p.Param == "" {
				return fail(hp+".paginate", "a cursor needs cursor (the body path) and param (the query parameter)")
			}
		case "offset":
			if p.Param == "" {
				return fail(hp+".paginate.param", "required: the offset query parameter")
			}
		case "link":
			if a.Proxy.Base == nil || len(a.Proxy.Base.Paths()) > 0 || a.Proxy.BaseURLBy != nil {
				return fail(hp+".paginate.type", "link pagination needs a fixed base_url")
			}
		default:
			return fail(hp+".paginate.type", "%q is not cursor, link or offset", p.Type)
		}
		if p.MaxPages == 0 {
			p.MaxPages = 10
		}
		if p.MaxPages < 1 || p.MaxPages > linkd.MaxPages {
			return fail(hp+".paginate.max_pages", "%d is not between 1 and %d", p.MaxPages, linkd.MaxPages)
		}
	}
	return nil
}

// normalizeTree turns YAML's decoded values into the JSON-like tree
// tmpl.RenderTree takes (string keys, []any lists).
func normalizeTree(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeTree(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			m[ks] = e
		}
		return normalizeTree(m)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeTree(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case string, bool, nil, float64, int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint64:
		return float64(x), nil
	}
	return nil, fmt.Errorf("unsupported value %v (%T)", v, v)
}

// checkTree checks every string leaf of a tree as a template.
func checkTree(tree any, earlier map[string]bool, at string, fail failFunc) error {
	switch n := tree.(type) {
	case string:
		if err := checkTemplate(n, earlier); err != nil {
			return fail(at, "%v", err)
		}
	case map[string]any:
		for k, v := range n {
			if err := checkTree(v, earlier, at+"."+k, fail); err != nil {
				return err
			}
		}
	case []any:
		for i, v := range n {
			if err := checkTree(v, earlier, fmt.Sprintf("%s[%d]", at, i), fail); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTemplate parses a template and checks that it reads only the step
// namespaces, and only steps that run before it.
func checkTemplate(s string, earlier map[string]bool) error {
	t, err := tmpl.Parse(s)
	if err != nil {
		return err
	}
	for _, p := range t.Paths() {
		if err := checkPath(p, earlier); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(p string, earlier map[string]bool) error {
	segs := strings.Split(p, ".")
	if !slices.Contains(stepNamespaces, segs[0]) {
		return fmt.Errorf("{{%s}}: a step reads %s only", p, strings.Join(stepNamespaces, ", "))
	}
	switch segs[0] {
	case "connection":
		if len(segs) < 2 || segs[1] != "metadata" {
			return fmt.Errorf("{{%s}}: of the connection, a step reads connection.metadata only", p)
		}
	case "steps":
		if len(segs) < 2 || !earlier[segs[1]] {
			return fmt.Errorf("{{%s}}: steps.<id> names a step that runs before this one", p)
		}
	}
	return nil
}

// compileExpr compiles a guard or set expression over the step namespaces.
func compileExpr(src string, earlier map[string]bool) (linkd.Expr, error) {
	e, err := compileExprEnv(src, stepNamespaces)
	if err != nil {
		return nil, err
	}
	_ = earlier // steps not yet run are absent at run time and read as nil
	return e, nil
}

// compileExprEnv compiles an operator expression whose variables are names
// (each any). It is length-capped before it reaches the compiler.
func compileExprEnv(src string, names []string) (linkd.Expr, error) {
	if len(src) > linkd.MaxExprLen {
		return nil, fmt.Errorf("expression is %d bytes, more than %d", len(src), linkd.MaxExprLen)
	}
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	env := make(map[string]any, len(names))
	for _, n := range names {
		// Every name is a map of JSON values; what is below is checked
		// when it runs.
		env[n] = map[string]any{}
	}
	prog, err := expr.Compile(src, expr.Env(env), expr.MaxNodes(1000), renderFunc)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %v", src, firstLine(err.Error()))
	}
	return func(data map[string]any) (any, error) {
		full := make(map[string]any, len(names))
		for _, n := range names {
			full[n] = map[string]any{}
		}
		for k, v := range data {
			full[k] = v
		}
		return expr.Run(prog, full)
	}, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// renderFunc is render(template, data) in expressions: it fills a template
// a user typed (a config field such as a message template) from data,
// with path lookups only (package tmpl), so what a user types can pick
// values and nothing else.
var renderFunc = expr.Function("render", func(params ...any) (any, error) {
	src, ok := params[0].(string)
	if !ok {
		return nil, fmt.Errorf("render: the template is a %T, not a string", params[0])
	}
	data, ok := params[1].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("render: the data is a %T, not a map", params[1])
	}
	t, err := tmpl.Parse(src)
	if err != nil {
		return nil, err
	}
	return t.Render(data)
}, new(func(string, map[string]any) string))
