package dashboard_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/hosted"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// env is a whole linkd server (API and dashboard, with the import and bulk
// runners) on a real store, served on loopback.
type env struct {
	t        *testing.T
	store    linkd.Store
	accounts *linkd.AccountService
	org      *linkd.Org
	test     linkd.Tenant // the org's test environment
	url      string
	// setupCode is a live first-run code for org.
	setupCode string
	// conns is the server's connection service; its catalog has keyapp,
	// whose API is on loopback, for calls through the proxy.
	conns *connect.Service
	// keys is the server's keyring, to open what it sealed.
	keys linkd.Keyring
	svcs *linkd.Services
	// flows runs keyapp's workflows (against the upstream) when drained.
	flows *workflow.Runner
	// signInClock is the user service's clock: real time until a test
	// stops it (sign-in backoffs are measured by it).
	signInClock *stoppableClock
}

// stoppableClock reads the real time until stopped, then the time it was
// stopped at; safe to use from the server's goroutines.
type stoppableClock struct {
	mu      sync.Mutex
	stopped time.Time
}

func (c *stoppableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped.IsZero() {
		return c.stopped
	}
	return time.Now()
}

// stop holds the clock at now until the test ends.
func (c *stoppableClock) stop(t *testing.T) {
	c.mu.Lock()
	c.stopped = time.Now()
	c.mu.Unlock()
	t.Cleanup(func() { c.mu.Lock(); c.stopped = time.Time{}; c.mu.Unlock() })
}

func newEnv(t *testing.T, store linkd.Store) *env {
	t.Helper()
	return newEnvWith(t, store, nil)
}

// newEnvWith is newEnv with the dashboard's configuration adjusted by
// configure (when not nil) before the handler is built.
func newEnvWith(t *testing.T, store linkd.Store, configure func(*dashboard.Config)) *env {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	org := &linkd.Org{ID: linkd.NewID(), Name: "Acme Inc.", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	// keyapp's API is an upstream on loopback, for calls through the
	// proxy: /v1/fail answers 503, anything else 200.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/fail" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(upstream.Close)
	cat, err := catalog.Load(strings.NewReader(`apps:
  - slug: keyapp
    name: Key App
    auth_type: keybased
    enabled_by_default: true
    auth_inputs:
      - {name: key, label: Key, type: password, required: true}
    proxy:
      base_url: ` + upstream.URL + `/v1
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "{{fields.key}}"}
    workflows:
      - id: record-order
        name: Record the order
        trigger: {event: Order Placed}
        steps:
          - id: post
            http: {method: POST, path: /orders, body: {order: "{{event.order_id}}", account: "{{linked_account.id}}"}}
          - id: result
            return: {ok: "{{steps.post.body.ok}}"}
      - id: always-fails
        name: Always fails
        trigger: {event: Order Placed}
        steps:
          - id: boom
            retry: {attempts: 1}
            http: {method: GET, path: /fail}
`))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	svcs := linkd.NewServices(store, keys, "http://127.0.0.1")
	signInClock := &stoppableClock{}
	svcs.Users.Now = signInClock.Now
	svcs.Executions.Catalog = cat
	accounts := svcs.Accounts
	conns := connect.NewService(store, accounts, cat, "http://127.0.0.1")
	importer := csvio.NewImporter(store, accounts, 0)
	owner := "test-" + linkd.NewID()
	runner := csvio.NewRunner(importer, worker.Options{Owner: owner, Poll: 50 * time.Millisecond, Logger: log}, 2)
	svcs.Bulk.Owner, svcs.Bulk.Lease, svcs.Bulk.BatchSize, svcs.Bulk.Logger = owner, 30*time.Second, 3, log
	bulk := worker.BulkJobs(svcs.Bulk, worker.Options{Poll: 50 * time.Millisecond, Logger: log})
	dcfg := dashboard.Config{Store: store, Services: svcs, Imports: importer, WakeImports: runner.Wake,
		WakeBulk: bulk.Wake, Connections: conns, Logger: log}
	if configure != nil {
		configure(&dcfg)
	}
	dash, err := dashboard.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	loopback := outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	caller := &proxy.Caller{Connections: conns, Catalog: cat, Client: outbound.NewClient(loopback), BackoffBase: time.Millisecond}
	callLog := linkd.NewCallRecorder(store, linkd.CallRecorderOptions{FlushEvery: 10 * time.Millisecond})
	pages := hosted.New(hosted.Config{Store: store, Connections: conns, RequestID: linkdhttp.RequestID})
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: svcs, Imports: importer, Connections: conns, Pages: pages,
		Apps: caller, CallLog: callLog, WakeImports: runner.Wake, Logger: log, Dashboard: dash})
	caller.Observe = srv.ObserveAppCall
	// Workflow runs: the tests drain the runner when they want runs to
	// move, so a run stays queued (to be stopped) until then.
	flows := workflow.NewRunner(store, workflow.Options{Catalog: cat, Caller: caller, Logger: log}, worker.Options{Owner: owner, Logger: log})
	svcs.Executions.Wake = flows.Wake
	ts := httptest.NewServer(srv.Handler())
	bgctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { runner.Run(bgctx) })
	wg.Go(func() { bulk.Run(bgctx) })
	t.Cleanup(func() {
		ts.Close()
		callLog.Close()
		stop()
		wg.Wait()
		srv.Close()
	})
	code, hash := linkd.NewSecret("setup-")
	if err := store.AddSetupCode(ctx, org.ID, hash, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, accounts: accounts, org: org, test: linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest},
		url: ts.URL, setupCode: code, conns: conns, keys: keys, svcs: svcs, flows: flows, signInClock: signInClock}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// user creates a dashboard user directly in the store.
func (e *env) user(email, password string) *linkd.User {
	e.t.Helper()
	u := &linkd.User{ID: linkd.NewID(), OrgID: e.org.ID, Email: email, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := e.store.CreateUser(e.t.Context(), u, linkd.HashPassword(password), nil); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// account creates a linked account directly through the service.
func (e *env) account(tn linkd.Tenant, id, name string, udf map[string]string) *linkd.LinkedAccount {
	e.t.Helper()
	in := linkd.AccountInput{AccountID: id, Name: &name, UDF: map[string]json.RawMessage{}}
	for k, v := range udf {
		in.UDF[k] = json.RawMessage(v)
	}
	a, err := e.accounts.Create(e.t.Context(), tn, "test", in)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// client is a plain HTTP client with a cookie jar that does not follow
// redirects (tests look at them).
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// post sends a same-origin form, as a browser would.
func (e *env) post(c *http.Client, path string, form url.Values, origin string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// login signs c in through the form.
func (e *env) login(c *http.Client, email, password string) *http.Response {
	e.t.Helper()
	return e.post(c, "/login", url.Values{"email": {email}, "password": {password}}, e.url)
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body(t, resp))
	}
}

var _ = fmt.Sprint
