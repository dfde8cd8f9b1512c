package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/tmpl"
	"github.com/linkd-dev/linkd/worker"
)

// request is an http step's call as rendered for this run.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// input is what the node log shows of the request: no credentials (the
// proxy core adds them), headers that could hold secrets redacted.
func (q *request) input() map[string]any {
	in := map[string]any{"method": q.method, "path": q.path, "query": q.query.Encode(), "headers": headerMap(q.header)}
	if q.body != nil {
		var v any
		if json.Unmarshal(q.body, &v) == nil {
			in["body"] = v
		} else {
			in["body"] = string(q.body)
		}
	}
	return in
}

// IdempotencyKey is the key an http step's requests carry: the same for
// every attempt of the step in the run, also after a crash, so an app that
// honours Idempotency-Key does the step once.
func IdempotencyKey(executionID, stepID string) string {
	return "linkd-" + executionID + "-" + stepID
}

// render builds the step's request from the run's data. Placeholders in
// the path are escaped as path segments, so a value cannot add segments or
// a query.
func (x *execution) render(st *linkd.WorkflowStep) (*request, error) {
	h := st.HTTP
	pt, err := tmpl.Parse(h.Path)
	if err != nil {
		return nil, err
	}
	q := &request{method: h.Method, query: url.Values{}, header: http.Header{}}
	if q.path, err = pt.RenderEscaped(x.data, url.PathEscape); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if err := x.renderEach("query", h.Query, q.query.Set); err != nil {
		return nil, err
	}
	if err := x.renderEach("header", h.Headers, q.header.Set); err != nil {
		return nil, err
	}
	if h.Body != nil {
		tree, err := tmpl.RenderTree(h.Body, x.data)
		if err != nil {
			return nil, fmt.Errorf("body %w", err)
		}
		if h.Form {
			form := url.Values{}
			for k, v := range tree.(map[string]any) {
				for _, s := range formValues(v) {
					form.Add(k, s)
				}
			}
			q.body = []byte(form.Encode())
			setDefault(q.header, "Content-Type", "application/x-www-form-urlencoded")
		} else {
			if q.body, err = json.Marshal(tree); err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
			setDefault(q.header, "Content-Type", "application/json")
		}
	}
	if h.Method != http.MethodGet {
		setDefault(q.header, "Idempotency-Key", IdempotencyKey(x.e.ID, st.ID))
	}
	return q, nil
}

// renderEach renders every template of m and sets the results.
func (x *execution) renderEach(what string, m map[string]string, set func(k, v string)) error {
	for k, v := range m {
		t, err := tmpl.Parse(v)
		if err != nil {
			return err
		}
		s, err := t.Render(x.data)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, k, err)
		}
		set(k, s)
	}
	return nil
}

func setDefault(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}

// formValues gives a form value its text: scalars as text, a list as one
// value per item.
func formValues(v any) []string {
	switch x := v.(type) {
	case nil:
		return []string{""}
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, formValues(e)...)
		}
		return out
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	}
	return []string{fmt.Sprint(v)}
}

// answer is one response of the app, read.
type answer struct {
	status  int
	headers http.Header
	body    any
}

func (a *answer) output() map[string]any {
	return map[string]any{"status": a.status, "headers": headerMap(a.headers), "body": a.body}
}

// failure says why an http step failed: its kind (linkd.Fail…, or "" for a
// failure no retry can fix), the message, and how long the app asked to
// wait (Retry-After).
type failure struct {
	kind  string
	msg   string
	after time.Duration
	last  *answer
}

// http runs an http step: one call, or the pages of a paginated list.
func (x *execution) http(ctx context.Context, st *linkd.WorkflowStep, node *linkd.ExecutionNode) (string, error) {
	e := x.e
	q, err := x.render(st)
	if err != nil {
		node.Status, node.Error, node.Attempts = linkd.NodeErrored, err.Error(), e.Attempt+1
		return linkd.ExecErrored, x.finish(ctx, linkd.ExecErrored, node, fmt.Sprintf("step %s: %v", st.ID, err))
	}
	node.Input, _ = marshal(q.input())
	sctx, cancel := context.WithTimeout(ctx, st.StepTimeout)
	out, fail := x.call(sctx, st, q)
	cancel()
	if fail == nil {
		return x.succeed(ctx, st, node, out)
	}
	if ctx.Err() != nil {
		return "", ctx.Err() // shutting down, or the lease was lost: resume later
	}
	if fail.last != nil {
		node.Output, _ = marshal(fail.last.output())
	}
	node.Error = fail.msg
	attempt := e.Attempt + 1
	if st.Policy.Retries(fail.kind, attempt) {
		delay := max(worker.Backoff(attempt-1, st.Policy.Backoff, MaxRetryWait), min(fail.after, MaxRetryWait))
		return x.wait(ctx, node, x.now().Add(delay))
	}
	node.Attempts = attempt
	if fail.kind == linkd.FailTimeout {
		node.Status = linkd.NodeTimedOut
		return linkd.ExecTimedOut, x.finish(ctx, linkd.ExecTimedOut, node, fmt.Sprintf("step %s: %s", st.ID, fail.msg))
	}
	node.Status = linkd.NodeErrored
	return linkd.ExecErrored, x.finish(ctx, linkd.ExecErrored, node, fmt.Sprintf("step %s: %s", st.ID, fail.msg))
}

// call sends the request, following the step's pagination; the output's
// body is the joined items of the pages when paginated.
func (x *execution) call(ctx context.Context, st *linkd.WorkflowStep, q *request) (map[string]any, *failure) {
	p := st.HTTP.Paginate
	budget := x.r.opts.MaxBody
	if p == nil {
		a, fail := x.once(ctx, st, q, &budget)
		if fail != nil {
			return nil, fail
		}
		return a.output(), nil
	}
	items := []any{}
	var last *answer
	offset := 0
	for page := 0; page < p.MaxPages; page++ {
		a, fail := x.once(ctx, st, q, &budget)
		if fail != nil {
			return nil, fail
		}
		last = a
		list, ok := bodyPath(a.body, p.Items).([]any)
		if !ok {
			return nil, &failure{kind: linkd.FailClient, msg: fmt.Sprintf("page %d: the answer has no list at %q", page+1, p.Items), last: a}
		}
		items = append(items, list...)
		switch p.Type {
		case "cursor":
			c := bodyPath(a.body, p.Cursor)
			if c == nil || c == "" || c == false {
				return pages(last, items), nil
			}
			q.query.Set(p.Param, fmt.Sprint(c))
		case "offset":
			if len(list) == 0 {
				return pages(last, items), nil
			}
			offset += len(list)
			q.query.Set(p.Param, strconv.Itoa(offset))
		case "link":
			next := nextLink(a.headers)
			if next == "" {
				return pages(last, items), nil
			}
			path, query, err := x.relative(next)
			if err != nil {
				return nil, &failure{kind: linkd.FailClient, msg: err.Error(), last: a}
			}
			q.path, q.query = path, query
		}
	}
	return pages(last, items), nil
}

func pages(last *answer, items []any) map[string]any {
	out := last.output()
	out["body"] = items
	return out
}

// relative turns a Link header's next URL into a path and query below the
// app's base URL, refusing any other host.
func (x *execution) relative(next string) (string, url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", nil, fmt.Errorf("next page link %q: %v", next, err)
	}
	base, err := url.Parse(x.app.Proxy.BaseURL)
	if err != nil {
		return "", nil, err
	}
	prefix := strings.TrimRight(base.EscapedPath(), "/")
	if !strings.EqualFold(u.Host, base.Host) || !strings.HasPrefix(u.EscapedPath(), prefix+"/") {
		return "", nil, fmt.Errorf("next page link %q is not below %s", next, x.app.Proxy.BaseURL)
	}
	return strings.TrimPrefix(u.EscapedPath(), prefix), u.Query(), nil
}

// nextLink reads rel="next" from Link headers (RFC 8288).
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slicesContainsFold(strings.Fields(strings.Trim(v, `"`)), "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func slicesContainsFold(vs []string, s string) bool {
	for _, v := range vs {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// bodyPath follows a dotted path into a decoded body; "" is the body.
func bodyPath(body any, path string) any {
	if path == "" {
		return body
	}
	t, err := tmpl.Parse("{{body." + path + "}}")
	if err != nil {
		return nil
	}
	v, err := t.Value(map[string]any{"body": body})
	if err != nil {
		return nil
	}
	return v
}

// once sends one request and reads the answer, within budget bytes.
func (x *execution) once(ctx context.Context, st *linkd.WorkflowStep, q *request, budget *int64) (*answer, *failure) {
	e := x.e
	req := &linkd.AppRequest{Method: q.method, Path: q.path, RawQuery: q.query.Encode(), Header: q.header.Clone(), Retries: 0, ContentLength: -1}
	if q.body != nil {
		req.Body, req.ContentLength = bytes.NewReader(q.body), int64(len(q.body))
	}
	res, err := x.r.opts.Caller.Call(ctx, e.Tenant, e.AccountID, e.Slug, req)
	if err != nil {
		return nil, callFailure(ctx, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, *budget+1))
	if err != nil {
		return nil, callFailure(ctx, err)
	}
	if int64(len(raw)) > *budget {
		return nil, &failure{msg: fmt.Sprintf("the app's answer is larger than %d bytes", x.r.opts.MaxBody)}
	}
	*budget -= int64(len(raw))
	a := &answer{status: res.StatusCode, headers: res.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		var v any
		if err := json.Unmarshal(raw, &v); err == nil {
			a.body = v
		} else {
			a.body = string(raw)
		}
	}
	switch s := res.StatusCode; {
	case s == http.StatusTooManyRequests:
		return nil, &failure{kind: linkd.FailRateLimited, msg: "the app answered 429 (rate limited)", after: retryAfter(res.Header, x.r.opts.Now()), last: a}
	case s >= 500:
		return nil, &failure{kind: linkd.FailServer, msg: fmt.Sprintf("the app answered %d", s), after: retryAfter(res.Header, x.r.opts.Now()), last: a}
	case s >= 300:
		return nil, &failure{kind: linkd.FailClient, msg: fmt.Sprintf("the app answered %d%s", s, snippet(a.body)), last: a}
	}
	if st.OK != nil {
		ok, err := st.OK(map[string]any{"body": a.body, "headers": headerMap(a.headers), "response": map[string]any{"status": a.status}})
		if err != nil || ok != true {
			return nil, &failure{kind: linkd.FailClient, msg: fmt.Sprintf("the app's answer is not a success (%s)%s", st.HTTP.OKWhen, snippet(a.body)), last: a}
		}
	}
	return a, nil
}

// snippet is the start of an error body, for the node's error.
func snippet(body any) string {
	if body == nil {
		return ""
	}
	b, _ := json.Marshal(body)
	if len(b) > 300 {
		b = append(b[:300], "…"...)
	}
	return ": " + string(b)
}

// callFailure classifies what the proxy core could not do.
func callFailure(ctx context.Context, err error) *failure {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &failure{kind: linkd.FailTimeout, msg: "the step's time ran out"}
	}
	switch linkd.ErrorCode(err) {
	case linkd.ETIMEOUT:
		return &failure{kind: linkd.FailTimeout, msg: err.Error()}
	case linkd.EUPSTREAM, linkd.EINTERNAL:
		return &failure{kind: linkd.FailNetwork, msg: err.Error()}
	}
	// Not connected, connection incomplete, host not allowed: no retry
	// fixes these.
	return &failure{msg: err.Error()}
}

// retryAfter reads Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(n, 0), int64(MaxRetryWait/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), MaxRetryWait)
	}
	return 0
}

// Response and request headers the log never shows the value of.
func sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"authorization", "cookie", "token", "secret", "api-key", "apikey", "password", "signature"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// headerMap is headers as the log keeps them: canonical names, values
// joined, secrets redacted.
func headerMap(h http.Header) map[string]any {
	out := map[string]any{}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if sensitive(k) {
			out[http.CanonicalHeaderKey(k)] = "[redacted]"
			continue
		}
		out[http.CanonicalHeaderKey(k)] = strings.Join(h[k], ", ")
	}
	return out
}
