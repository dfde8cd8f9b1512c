package workflow_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// seen is one request an app received.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                map[string]any
	Raw                 string
}

// reply answers one request of an app.
type reply struct {
	status int
	header map[string]string
	body   string
}

// apps stands in for every app of the shipped catalog on loopback: the
// catalog is rewritten so that each app's API is {server}/{slug} and its
// OAuth endpoints are {server}/oauth/…
type apps struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []seen
	routes map[string][]reply // "METHOD /path" → replies, the last one repeated
	// token is the access token the OAuth apps accept ("" for any);
	// refreshes counts token endpoint calls.
	token     string
	refreshes int
	// onRequest, when set, is called with each API request before it is
	// answered.
	onRequest func(seen)
}

func newApps(t testing.TB) *apps {
	a := &apps{routes: map[string][]reply{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/lcapp/hang" {
			<-r.Context().Done() // until the caller gives up
			return
		}
		a.mu.Lock()
		hook := a.onRequest
		a.mu.Unlock()
		if hook != nil && r.URL.Path != "/oauth/token" {
			hook(seen{Method: r.Method, Path: r.URL.EscapedPath()})
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.URL.Path == "/oauth/token" {
			a.refreshes++
			a.token = fmt.Sprintf("fresh-%d", a.refreshes)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600,"refresh_token":"r2"}`, a.token)
			return
		}
		s := seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Raw: string(raw)}
		json.Unmarshal(raw, &s.Body)
		a.seen = append(a.seen, s)
		if a.token != "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") && r.Header.Get("Authorization") != "Bearer "+a.token {
			http.Error(w, `{"message":"expired"}`, http.StatusUnauthorized)
			return
		}
		key := r.Method + " " + r.URL.EscapedPath()
		rs := a.routes[key]
		if len(rs) == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{}`))
			return
		}
		rep := rs[0]
		if len(rs) > 1 {
			a.routes[key] = rs[1:]
		}
		for k, v := range rep.header {
			w.Header().Set(k, strings.ReplaceAll(v, "{{server}}", a.URL))
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.status)
		w.Write([]byte(rep.body))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *apps) on(method, path string, rs ...reply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes[method+" "+path] = rs
}

func (a *apps) requests() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.seen...)
}

func (a *apps) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = nil
}

// loopbackCatalog is the shipped catalog with every app's API and OAuth
// endpoints on the server: the shipped steps run unchanged.
func loopbackCatalog(t testing.TB, server string) *catalog.Catalog {
	t.Helper()
	raw, err := os.ReadFile("../catalog/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	var out []string
	slug := ""
	for _, line := range strings.Split(s, "\n") {
		if m := regexp.MustCompile(`^  - slug: (\S+)`).FindStringSubmatch(line); m != nil {
			slug = m[1]
		}
		trim := strings.TrimSpace(line)
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		switch {
		case strings.HasPrefix(trim, "base_url:"):
			line = indent + "base_url: " + server + "/" + slug
		case strings.HasPrefix(trim, "eu: https://"):
			line = indent + "eu: " + server + "/" + slug + "-eu"
		case strings.HasPrefix(trim, "allowed_hosts:"):
			line = indent + "allowed_hosts: [127.0.0.1]"
		case strings.HasPrefix(trim, "authorize_url:"):
			line = indent + "authorize_url: " + server + "/oauth/authorize"
		case strings.HasPrefix(trim, "token_url:"):
			line = indent + "token_url: " + server + "/oauth/token"
		case strings.HasPrefix(trim, "revocation_url:"):
			line = indent + "revocation_url: " + server + "/oauth/revoke"
		}
		out = append(out, line)
	}
	// An app of the tests' own, whose workflow a new connection starts.
	out = append(out, `  - slug: lcapp
    name: Lifecycle App
    auth_type: keybased
    enabled_by_default: true
    auth_inputs: [{name: key, label: Key, type: password, required: true}]
    proxy:
      base_url: `+server+`/lcapp
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "{{fields.key}}"}
    workflows:
      - id: welcome
        name: Welcome
        trigger: {connection: created}
        steps:
          - id: hello
            http: {method: POST, path: /hello, body: {account: "{{linked_account.id}}", event: "{{event.event}}"}}
      - id: slow
        name: Slow
        trigger: {event: Slow}
        steps:
          - id: wait
            timeout: 50ms
            retry: {attempts: 1}
            http: {method: GET, path: /hang}
      - id: flaky
        name: Flaky
        trigger: {event: Flaky}
        steps:
          - id: call
            retry: {attempts: 3, backoff: 1s, on: [server_error]}
            http: {method: POST, path: /flaky}
`)
	c, err := catalog.Load(strings.NewReader(strings.Join(out, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixture is a tenant with one account, the services, and a runner with a
// clock the test moves.
type fixture struct {
	t      testing.TB
	store  linkd.Store
	svcs   *linkd.Services
	conns  *connect.Service
	cat    *catalog.Catalog
	apps   *apps
	runner *workflow.Runner
	caller *proxy.Caller
	tn     linkd.Tenant
	mu     sync.Mutex
	now    time.Time
	// observed lists what the runner reported: "step status", "end status".
	obsMu    sync.Mutex
	observed []string
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t testing.TB, store linkd.Store) *fixture {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	kr, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	a := newApps(t)
	f := &fixture{t: t, store: store, apps: a, now: time.Now().UTC().Truncate(time.Microsecond)}
	f.cat = loopbackCatalog(t, a.URL)
	f.svcs = linkd.NewServices(store, kr, "")
	f.svcs.Webhooks.Catalog = f.cat
	f.svcs.Executions.Catalog, f.svcs.Executions.Now = f.cat, f.clock
	loopback := outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	f.conns = connect.NewService(store, f.svcs.Accounts, f.cat, "https://linkd.example.com")
	f.conns.HTTPClient = outbound.NewClient(loopback)
	caller := &proxy.Caller{Connections: f.conns, Catalog: f.cat, Client: outbound.NewClient(loopback), Timeout: 5 * time.Second, BackoffBase: time.Millisecond}
	f.caller = caller
	f.runner = workflow.NewRunner(store, workflow.Options{Catalog: f.cat, Caller: caller, Now: f.clock,
		Observe: func(o workflow.StepObservation) {
			f.obsMu.Lock()
			defer f.obsMu.Unlock()
			f.observed = append(f.observed, o.StepID+" "+o.Status)
		},
		Ended: func(e *linkd.Execution) {
			f.obsMu.Lock()
			defer f.obsMu.Unlock()
			f.observed = append(f.observed, "end "+e.Status)
		},
		Metadata: func(ctx context.Context, t linkd.Tenant, accountID, slug string) (map[string]string, error) {
			c, err := f.conns.Credentials(ctx, t, accountID, slug, connect.CredentialsOptions{})
			if err != nil {
				return nil, err
			}
			return c.Metadata, nil
		}}, worker.Options{Owner: "test", Lease: time.Minute})
	f.svcs.Executions.Wake = f.runner.Wake
	f.conns.Runs = f.svcs.Executions
	org := &linkd.Org{ID: linkd.NewID(), Name: "o-" + linkd.NewID(), CreatedAt: f.now}
	if err := store.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	f.tn = linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	f.account(f.tn, "cust")
	return f
}

func (f *fixture) account(tn linkd.Tenant, id string) {
	f.t.Helper()
	name := "Customer " + id
	if _, err := f.svcs.Accounts.Create(f.t.Context(), tn, "test", linkd.AccountInput{AccountID: id, Name: &name}); err != nil {
		f.t.Fatal(err)
	}
}

// connect connects the account to slug: keys for a key-based app, a
// migrated token for an OAuth app (whose settings it fills in).
func (f *fixture) connect(tn linkd.Tenant, accountID, slug string, keys map[string]string) {
	f.t.Helper()
	ctx := f.t.Context()
	app, _ := f.cat.App(slug)
	if app.AuthType == linkd.AuthKeyBased {
		vals := map[string]json.RawMessage{}
		for k, v := range keys {
			vals[k], _ = json.Marshal(v)
		}
		if _, err := f.conns.SaveKeys(ctx, tn, "test", accountID, slug, vals); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	on, id, secret := true, "client-"+slug, "secret"
	if _, err := f.conns.PutSettings(ctx, tn, "test", slug, connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.conns.Migrate(ctx, tn, "test", accountID, slug, connect.MigrateInput{AccessToken: "tok", RefreshToken: "r1", TokenType: "Bearer"}); err != nil {
		f.t.Fatal(err)
	}
}

// enable switches a workflow on in the account's default config, with
// the app's and the workflow's field values.
func (f *fixture) enable(tn linkd.Tenant, accountID, slug, wf string, appFields, wfFields map[string]any) {
	f.t.Helper()
	raw := func(m map[string]any) map[string]json.RawMessage {
		out := map[string]json.RawMessage{}
		for k, v := range m {
			out[k], _ = json.Marshal(v)
		}
		return out
	}
	on := true
	in := connect.ConfigInput{Fields: raw(appFields), Workflows: []connect.WorkflowInput{{ID: wf, Enabled: &on, Fields: raw(wfFields)}}}
	if _, _, err := f.conns.PutConfig(f.t.Context(), tn, "test", accountID, slug, accountID, in, false); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) defineEvent(tn linkd.Tenant, name string) {
	f.t.Helper()
	if _, err := f.svcs.Executions.PutEventDef(f.t.Context(), tn, "test", "", linkd.EventDefInput{Name: name}); err != nil && linkd.ErrorCode(err) != linkd.EEXISTS {
		f.t.Fatal(err)
	}
}

// trigger fires an event and returns the runs it queued.
func (f *fixture) trigger(tn linkd.Tenant, accountID, event string, payload any) []*linkd.Execution {
	f.t.Helper()
	f.defineEvent(tn, event)
	p, _ := json.Marshal(payload)
	_, execs, err := f.svcs.Executions.Trigger(f.t.Context(), tn, "test", linkd.TriggerInput{AccountID: accountID, Event: event, Payload: p})
	if err != nil {
		f.t.Fatal(err)
	}
	return execs
}

func (f *fixture) drain() {
	f.t.Helper()
	if _, err := f.runner.Drain(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(tn linkd.Tenant, id string) *linkd.Execution {
	f.t.Helper()
	e, err := f.store.Execution(f.t.Context(), tn, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) runnerCaller() *proxy.Caller { return f.caller }
