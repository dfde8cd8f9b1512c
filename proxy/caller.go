package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/worker"
)

// Defaults of a Caller.
const (
	DefaultMaxBody = 64 << 20
	DefaultTimeout = 30 * time.Second
	// DefaultRetries is how many times a safe call is repeated after a
	// network error, a 429 or a 5xx.
	DefaultRetries = 2
	// MaxRetries bounds what a caller may ask for.
	MaxRetries = 5
	// DefaultMaxWait is the longest wait before a retry that linkd holds a
	// request for; when the app asks for longer (Retry-After), its answer
	// goes back to the caller, who can schedule the retry better.
	DefaultMaxWait = 10 * time.Second
)

// Caller calls apps' APIs as linked accounts. It implements
// linkd.AppCaller.
type Caller struct {
	Connections *connect.Service
	Catalog     linkd.Catalog
	// Client is the SSRF-guarded client (outbound.NewClient) calls leave
	// through; it must not follow redirects.
	Client *http.Client
	// MaxBody bounds a request body; Timeout bounds the wait for the
	// app's answer (its headers) over all attempts; MaxWait the wait
	// before one retry. Zero takes the defaults.
	MaxBody int64
	Timeout time.Duration
	MaxWait time.Duration
	// Observe, when set, is told about every call once its answer (or
	// failure) is known, for metrics and the call log.
	Observe func(ctx context.Context, c Observation)
	// BackoffBase is the first retry's backoff (250 ms when zero).
	BackoffBase time.Duration
}

// Observation is one call through the caller, as metrics and the call
// log record it: never bodies or credentials.
type Observation struct {
	Tenant    linkd.Tenant
	AccountID string
	Slug      string
	Method    string
	Path      string // the caller's path, without the query
	Start     time.Time
	Status    int // the app's last status; 0 when no answer came
	Attempts  int
	Refreshed bool // a 401 made linkd refresh the token
	Duration  time.Duration
	Err       error // linkd's own failure, if any
}

// Call is the observation as the call log keeps it.
func (o *Observation) Call() linkd.AppCall {
	return linkd.AppCall{Tenant: o.Tenant, AccountID: o.AccountID, Slug: o.Slug, At: o.Start, Method: o.Method, Path: o.Path,
		Status: o.Status, Duration: o.Duration, Attempts: o.Attempts, ErrorType: linkd.CallErrorType(o.Err)}
}

var _ linkd.AppCaller = (*Caller)(nil)

// Call implements linkd.AppCaller. On success the response body streams
// from the app; the caller must close it. Errors are *linkd.Error for what
// linkd refused or could not do.
func (c *Caller) Call(ctx context.Context, t linkd.Tenant, accountID, slug string, req *linkd.AppRequest) (res *linkd.AppResponse, err error) {
	start := time.Now()
	obs := Observation{Tenant: t, AccountID: accountID, Slug: slug, Method: req.Method, Path: req.Path, Start: start}
	defer func() {
		if c.Observe == nil {
			return
		}
		obs.Duration, obs.Err = time.Since(start), err
		if res != nil {
			obs.Status, obs.Attempts = res.StatusCode, res.Attempts
		}
		c.Observe(ctx, obs)
	}()
	app, ok := c.Catalog.App(slug)
	if !ok {
		return nil, linkd.AppNotFound(slug)
	}
	if app.Proxy == nil {
		return nil, linkd.FieldError("slug", "%s has no proxy block in the app catalog, so linkd does not know where its API is", app.Name)
	}
	maxBody := cmp.Or(c.MaxBody, DefaultMaxBody)
	if req.ContentLength > maxBody {
		return nil, &linkd.Error{Code: linkd.ETOOLARGE, Field: "body", Message: (&maxBytesError{maxBody}).Error()}
	}
	// The timeout covers getting an answer, not reading it: a large
	// download streams for as long as it takes. It starts before the
	// credentials, whose refresh may wait on the provider.
	cctx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	timer := time.AfterFunc(cmp.Or(c.Timeout, DefaultTimeout), func() { timedOut.Store(true); cancel() })
	done := func() { timer.Stop() }
	fail := func(err error) (*linkd.AppResponse, error) {
		done()
		cancel()
		if timedOut.Load() {
			return nil, &linkd.Error{Code: linkd.ETIMEOUT, Message: fmt.Sprintf("%s did not answer within %s", app.Name, cmp.Or(c.Timeout, DefaultTimeout))}
		}
		return nil, err
	}
	creds, err := c.Connections.Credentials(cctx, t, accountID, slug, connect.CredentialsOptions{})
	if err != nil {
		if timedOut.Load() {
			fail(nil)
			return nil, &linkd.Error{Code: linkd.ETIMEOUT, Message: fmt.Sprintf("%s did not refresh the access token within %s; the refresh goes on, try again shortly",
				app.Name, cmp.Or(c.Timeout, DefaultTimeout))}
		}
		return fail(err)
	}
	base, err := baseURL(app, creds)
	if err != nil {
		return fail(err)
	}
	target, err := JoinPath(base, req.Path, req.RawQuery)
	if err != nil {
		return fail(linkd.FieldError("path", "%v", err))
	}
	var in io.Reader
	if req.Body != nil {
		in = &limitReader{r: req.Body, left: maxBody, limit: maxBody}
	}
	b, err := newBody(in, req.ContentLength)
	if err != nil {
		return fail(err)
	}
	retries := req.Retries
	if retries < 0 {
		retries = DefaultRetries
	}
	retries = min(retries, MaxRetries)
	if !retryable(req.Method, req.Header) {
		retries = 0
	}

	attempts, refreshed := 0, false
	// A call that failed has no response to count its attempts.
	defer func() { obs.Refreshed, obs.Attempts = refreshed, attempts }()
	for {
		rd, size, ok := b.reader()
		if !ok {
			return fail(&linkd.Error{Code: linkd.EUPSTREAM, Message: "the request body was streamed already and cannot be sent again"})
		}
		out, err := c.request(cctx, app, creds, target, req, rd, size)
		if err != nil {
			return fail(err)
		}
		attempts++
		resp, err := c.Client.Do(out)
		if err != nil {
			if ctx.Err() != nil || timedOut.Load() {
				return fail(ctx.Err())
			}
			if outbound.IsRefused(err) {
				return fail(&linkd.Error{Code: linkd.EFORBIDDEN, Type: "HOST_NOT_ALLOWED",
					Message: fmt.Sprintf("linkd does not call %s: its address is in a private or reserved network", target.Hostname())})
			}
			var rerr *linkd.Error
			if errors.As(err, &rerr) { // reading the caller's body failed
				return fail(rerr)
			}
			if attempts <= retries && b.replayable() {
				if werr := c.sleep(cctx, attempts, 0); werr != nil {
					return fail(werr)
				}
				continue
			}
			return fail(&linkd.Error{Code: linkd.EUPSTREAM, Type: "UPSTREAM_UNREACHABLE",
				Message: fmt.Sprintf("%s could not be reached after %d attempt(s): %s", app.Name, attempts, netReason(err))})
		}
		// One forced refresh on 401, never a loop.
		if resp.StatusCode == http.StatusUnauthorized && app.AuthType == linkd.AuthOAuth2 && !refreshed && b.replayable() {
			refreshed = true
			fresh, err := c.Connections.Credentials(cctx, t, accountID, slug, connect.CredentialsOptions{Force: true})
			if err == nil {
				discard(resp)
				creds = fresh
				continue
			}
			// The grant ended (or the refresh failed): the app's 401
			// tells the caller as much as linkd could.
		}
		if retryStatus(resp.StatusCode) && attempts <= retries && b.replayable() {
			wait, said := retryAfter(resp.Header, time.Now())
			if !said || wait <= cmp.Or(c.MaxWait, DefaultMaxWait) {
				discard(resp)
				if werr := c.sleep(cctx, attempts, wait); werr != nil {
					return fail(werr)
				}
				continue
			}
		}
		done()
		if timedOut.Load() {
			resp.Body.Close()
			return fail(nil)
		}
		resp.Body = &closeFunc{ReadCloser: resp.Body, after: cancel}
		return &linkd.AppResponse{Response: resp, Attempts: attempts}, nil
	}
}

// request builds one attempt: the caller's headers that may go on, the
// app's defaults where the caller set none, and the credentials.
func (c *Caller) request(ctx context.Context, app *linkd.App, creds *linkd.Credentials, target *url.URL, req *linkd.AppRequest, body io.Reader, size int64) (*http.Request, error) {
	u := *target
	out, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, linkd.FieldError("method", "%v", err)
	}
	out.URL = &u
	if body != nil {
		out.ContentLength = size
	}
	for name, vs := range req.Header {
		if linkd.ForwardedRequestHeader(http.CanonicalHeaderKey(name)) {
			out.Header[http.CanonicalHeaderKey(name)] = vs
		}
	}
	for name, v := range app.Proxy.Headers {
		if out.Header.Get(name) == "" {
			out.Header.Set(name, v)
		}
	}
	if out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", "linkd-proxy")
	}
	if app.AuthType == linkd.AuthOAuth2 {
		typ := creds.TokenType
		if typ == "" || strings.EqualFold(typ, "bearer") {
			typ = "Bearer"
		}
		out.Header.Set("Authorization", typ+" "+creds.AccessToken)
		return out, nil
	}
	au := app.Proxy.Auth
	fields := make(map[string]any, len(creds.Fields))
	for k, v := range creds.Fields {
		fields[k] = v
	}
	v, err := app.Proxy.AuthWith.Render(map[string]any{"fields": fields})
	if err != nil {
		return nil, &linkd.Error{Code: linkd.ECONFLICT, Type: "CONNECTION_INCOMPLETE", Field: "slug",
			Message: fmt.Sprintf("the connection to %s lacks a field its API calls need (%v): the customer should connect %s again", app.Name, err, app.Name)}
	}
	if au.Header != "" {
		out.Header.Set(au.Header, v)
	} else {
		q := out.URL.Query()
		q.Set(au.Query, v)
		out.URL.RawQuery = q.Encode()
	}
	return out, nil
}

// sleep waits before the next attempt: what the app asked for, or an
// exponential backoff with jitter.
func (c *Caller) sleep(ctx context.Context, attempt int, asked time.Duration) error {
	d := max(asked, worker.Backoff(attempt, cmp.Or(c.BackoffBase, 250*time.Millisecond), 4*time.Second))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// baseURL fills in the app's base URL for this connection and checks it
// against the app's hosts (a template's value comes from the provider).
func baseURL(app *linkd.App, creds *linkd.Credentials) (*url.URL, error) {
	p := app.Proxy
	tpl := p.Base
	if p.BaseURLBy != nil {
		if t, ok := p.BaseBy[creds.Fields[p.BaseURLBy.Input]]; ok {
			tpl = t
		}
	}
	meta := map[string]any{}
	for k, v := range creds.Metadata {
		meta[k] = v
	}
	raw, err := tpl.Render(map[string]any{"connection": map[string]any{"metadata": meta}})
	if err != nil {
		return nil, &linkd.Error{Code: linkd.ECONFLICT, Type: "CONNECTION_INCOMPLETE", Field: "slug",
			Message: fmt.Sprintf("%s's API address depends on the connection, which lacks it (%v): the customer should connect %s again", app.Name, err, app.Name)}
	}
	if err := catalog.CheckProxyBase(raw, p); err != nil {
		return nil, &linkd.Error{Code: linkd.EFORBIDDEN, Type: "HOST_NOT_ALLOWED", Field: "slug",
			Message: fmt.Sprintf("the connection's API address is not one %s allows: %v", app.Name, err)}
	}
	return url.Parse(strings.TrimRight(raw, "/"))
}

// discard drains a little of a response not passed on, so its connection
// can be reused, and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// netReason says why a connection failed without the noise of the URL
// (which the caller knows).
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// closeFunc runs after once the body is closed.
type closeFunc struct {
	io.ReadCloser
	after func()
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.after()
	return err
}
