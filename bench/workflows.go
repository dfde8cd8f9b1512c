package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// The workflows phase measures workflow runs with a one-step http workflow
// (POST /orders to an app on loopback that answers 200 at once), wired as
// cmd/linkd/serve.go wires it: the API, ExecutionService, the proxy core's
// caller with the SSRF guard (loopback allowed) and one workflow.Runner
// with serve's worker options (8 runs at once, 4 per tenant). On each
// engine, on fresh databases:
//
//  1. events accepted/s: POST /api/v2/public/event over HTTP from
//     -workflows-clients clients, the runner stopped, so the figure is the
//     accepting alone (auth, the event's definition, the account's configs,
//     the run and the audit entry in one transaction); beside the floor:
//     the raw store's QueueExecutions of the same rows from as many
//     goroutines;
//  2. executions completed/s: -workflows-burst runs queued, then one runner
//     started, until all are COMPLETED (one tenant: the per-tenant cap
//     applies); beside the floor: as many calls straight to the app, 4 at
//     once;
//  3. event→first-step latency: events at -workflows-rate per second over
//     HTTP with the runner running, from the request sent to the app
//     receiving the step's request (its Idempotency-Key names the run).

// wfAccounts is how many accounts the events are spread over.
const wfAccounts = 50

// workflowResult is the phase's figures on one engine.
type workflowResult struct {
	Engine string `json:"engine"`
	// Accepted is the trigger load over HTTP; QueueFloor the store's
	// QueueExecutions of the same rows; Ratio the first's rate over the
	// second's.
	Accepted   stats   `json:"events_accepted"`
	QueueFloor stats   `json:"queue_floor"`
	Ratio      float64 `json:"ratio"`
	// Burst runs were queued and completed in BurstSeconds by one runner;
	// AppFloorPerSec is the same number of calls straight to the app.
	Burst           int     `json:"burst_runs"`
	BurstErrored    int     `json:"burst_not_completed"`
	BurstSeconds    float64 `json:"burst_seconds"`
	CompletedPerSec float64 `json:"completed_per_second"`
	BurstCPU        cpuUse  `json:"burst_cpu"`
	AppFloorPerSec  float64 `json:"app_floor_per_second"`
	AppFloorCPU     cpuUse  `json:"app_floor_cpu"`
	// The latency run: Events sent at Rate per second, Reached the app.
	Rate        float64 `json:"rate"`
	Events      int     `json:"events"`
	Reached     int     `json:"reached"`
	AnswerP50ms float64 `json:"trigger_p50_ms"`
	P50ms       float64 `json:"first_step_p50_ms"`
	P90ms       float64 `json:"first_step_p90_ms"`
	P99ms       float64 `json:"first_step_p99_ms"`
	MaxMs       float64 `json:"first_step_max_ms"`
	LatCPU      cpuUse  `json:"latency_cpu"`
}

// wfApp is the app on loopback: it records when each run's step first
// reached it and answers 200 at once.
type wfApp struct {
	mu    sync.Mutex
	first map[string]time.Time // execution id → first arrival
	calls atomic.Int64
}

func (a *wfApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	io.Copy(io.Discard, r.Body)
	a.calls.Add(1)
	if id, ok := strings.CutPrefix(r.Header.Get("Idempotency-Key"), "linkd-"); ok {
		id = strings.TrimSuffix(id, "-post")
		a.mu.Lock()
		if _, seen := a.first[id]; !seen {
			a.first[id] = at
		}
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

func (a *wfApp) arrived(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.first[id]
	return t, ok
}

// wfCatalog is the phase's app: key-based, its API the loopback app, one
// workflow with one http step.
func wfCatalog(appURL string) string {
	return `apps:
  - slug: benchapp
    name: Bench App
    auth_type: keybased
    enabled_by_default: true
    auth_inputs: [{name: key, label: Key, type: password, required: true}]
    proxy:
      base_url: ` + appURL + `
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "{{fields.key}}"}
    workflows:
      - id: record
        name: Record the order
        trigger: {event: Order Placed}
        steps:
          - id: post
            http: {method: POST, path: /orders, body: {order: "{{event.order_id}}", account: "{{linked_account.id}}"}}
`
}

// wfSetup is linkd serving one fresh database with workflows wired.
type wfSetup struct {
	db    *database
	bt    *benchTenant
	svcs  *linkd.Services
	flows *workflow.Runner
	base  string
	stop  func()
	// engine names the engine; appURL is the app's.
	engine, appURL string
}

// wfOpen opens a fresh database with wfAccounts accounts connected to the
// app, the workflow on, the event defined, and serves the API on it. The
// runner is built but not started.
func (r *runner) wfOpen(ctx context.Context, eng engine, label, appURL string) (*wfSetup, error) {
	db, bt, err := r.openTenant(ctx, eng, label)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*wfSetup, error) { return nil, errors.Join(err, db.Drop()) }
	cat, err := catalog.Load(strings.NewReader(wfCatalog(appURL)))
	if err != nil {
		return fail(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svcs := linkd.NewServices(db.store, bt.keys, "http://127.0.0.1")
	svcs.Executions.Catalog = cat
	conns := connect.NewService(db.store, svcs.Accounts, cat, "http://127.0.0.1")
	client := outbound.NewClient(outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	caller := &proxy.Caller{Connections: conns, Catalog: cat, Client: client}
	flows := workflow.NewRunner(db.store, workflow.Options{Catalog: cat, Caller: caller, Logger: logger},
		worker.Options{Owner: "bench", Logger: slog.New(slog.DiscardHandler)})
	svcs.Executions.Wake = flows.Wake
	db.store.OnWork(linkd.WorkExecutions, flows.Wake)
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: db.store, Services: svcs, Connections: conns, Apps: caller, Logger: logger,
		Workflows: flows, Version: "bench"})
	on := true
	for i := range wfAccounts {
		id := wfAccountID(i)
		name := "Customer " + id
		if _, err := svcs.Accounts.Create(ctx, bt.Tenant, "bench", linkd.AccountInput{AccountID: id, Name: &name}); err != nil {
			return fail(err)
		}
		if _, err := conns.SaveKeys(ctx, bt.Tenant, "bench", id, "benchapp", map[string]json.RawMessage{"key": json.RawMessage(`"k-1"`)}); err != nil {
			return fail(err)
		}
		in := connect.ConfigInput{Workflows: []connect.WorkflowInput{{ID: "record", Enabled: &on}}}
		if _, _, err := conns.PutConfig(ctx, bt.Tenant, "bench", id, "benchapp", id, in, false); err != nil {
			return fail(err)
		}
	}
	if _, err := svcs.Executions.PutEventDef(ctx, bt.Tenant, "bench", "", linkd.EventDefInput{Name: "Order Placed"}); err != nil {
		return fail(err)
	}
	base, stopHTTP, err := serve(srv.Handler())
	if err != nil {
		srv.Close()
		return fail(err)
	}
	return &wfSetup{db: db, bt: bt, svcs: svcs, flows: flows, base: base, stop: func() { stopHTTP(); srv.Close() }, engine: eng.Name(), appURL: appURL}, nil
}

func wfAccountID(i int) string { return fmt.Sprintf("wf-%03d", i%wfAccounts) }

// triggerRequest is one event over the API, as a product's backend sends it.
func triggerRequest(ctx context.Context, base, secret string, n int) (*http.Request, error) {
	body := fmt.Sprintf(`{"event":"Order Placed","payload":{"order_id":"o-%d","total":%d}}`, n, 10+n%90)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2/public/event", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", secret)
	req.Header.Set("linked_account_id", wfAccountID(n))
	return req, nil
}

// workflowsPhase runs the phase on eng.
func (r *runner) workflowsPhase(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	app := &wfApp{first: map[string]time.Time{}}
	appURL, stopApp, err := serve(app)
	if err != nil {
		return err
	}
	defer stopApp()
	res := workflowResult{Engine: name}

	// 1. Events accepted, runner stopped, and the store's floor.
	s, err := r.wfOpen(ctx, eng, "wf_accept", appURL)
	if err != nil {
		return err
	}
	defer s.db.Drop()
	client := newClient(cfg.WorkflowsClients)
	defer client.CloseIdleConnections()
	spec := loadSpec{Clients: cfg.WorkflowsClients, Warmup: cfg.WorkflowsWarmup, Duration: cfg.WorkflowsDuration,
		Profile: profilePath(cfg, name, "wf-trigger"),
		Request: func(attempt, c, seq int, rng *rand.Rand) (*http.Request, error) {
			return triggerRequest(ctx, s.base, s.bt.secret, c*1_000_000+seq)
		}}
	logf("%s: workflows: events over the API, runner stopped: %d clients, %s warm-up + %s", name, cfg.WorkflowsClients, spec.Warmup, spec.Duration)
	if res.Accepted, err = r.measure(ctx, client, spec); err != nil {
		return err
	}
	logf("%s: workflows: %.0f events/s accepted, p50 %.2f ms, p99 %.2f ms, %d errors %s; %s", name, res.Accepted.RPS, res.Accepted.P50ms,
		res.Accepted.P99ms, res.Accepted.Errors, res.Accepted.FirstError, res.Accepted.CPU.String())
	s.stop()
	if res.QueueFloor, err = r.queueFloor(ctx, s); err != nil {
		return err
	}
	if res.QueueFloor.RPS > 0 {
		res.Ratio = res.Accepted.RPS / res.QueueFloor.RPS
	}
	logf("%s: workflows: floor, the store's QueueExecutions: %.0f runs/s, p50 %.2f ms, p99 %.2f ms; %s", name, res.QueueFloor.RPS,
		res.QueueFloor.P50ms, res.QueueFloor.P99ms, res.QueueFloor.CPU.String())
	if err := s.db.Drop(); err != nil {
		return err
	}

	// 2. A burst of queued runs, completed by one runner.
	s, err = r.wfOpen(ctx, eng, "wf_run", appURL)
	if err != nil {
		return err
	}
	defer s.db.Drop()
	defer s.stop()
	if err := r.wfBurst(ctx, s, app, &res); err != nil {
		return err
	}
	// 3. Event→first-step latency, the runner running.
	runCtx, stopRunner := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.flows.Run(runCtx) })
	err = r.wfLatency(ctx, s, app, client, &res)
	stopRunner()
	wg.Wait()
	if err != nil {
		return err
	}
	r.rep.Workflows = append(r.rep.Workflows, res)
	return nil
}

// queueFloor calls the store's QueueExecutions with the rows one trigger
// writes (a run and the event's audit entry), from as many goroutines as
// the API load had clients, for as long.
func (r *runner) queueFloor(ctx context.Context, s *wfSetup) (stats, error) {
	cfg := r.cfg
	r.meter.waitQuiet(ctx, cfg.QuietWait, r.logf)
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var firstErr error
	start := time.Now()
	from, end := start.Add(cfg.WorkflowsWarmup), start.Add(cfg.WorkflowsWarmup+cfg.WorkflowsDuration)
	var s0 cpuSample
	var once sync.Once
	var wg sync.WaitGroup
	for c := range cfg.WorkflowsClients {
		wg.Go(func() {
			var mine []time.Duration
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					break
				}
				if !t0.Before(from) {
					once.Do(func() { s0 = r.meter.sample() })
				}
				now := linkd.StoreTime(t0)
				acct := wfAccountID(c*1_000_000 + seq)
				e := &linkd.Execution{Tenant: s.bt.Tenant, ID: linkd.NewID(), AccountID: acct, Slug: "benchapp", ConfigID: acct, WorkflowID: "record",
					WorkflowName: "Record the order", EventID: linkd.NewID(), EventName: "Order Placed", Source: linkd.SourceEvent, Type: linkd.ExecAsync,
					Status: linkd.ExecRunning, Payload: json.RawMessage(fmt.Sprintf(`{"order_id":"o-%d","total":%d}`, seq, 10+seq%90)),
					NextAt: now, Deadline: now.Add(linkd.DefaultRunTimeout), CreatedAt: now, UpdatedAt: now}
				ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "bench", Action: linkd.AuditEventTrigger, AccountID: acct,
					Details: map[string]any{"event": "Order Placed", "event_id": e.EventID, "executions": 1}}
				err := s.db.store.QueueExecutions(ctx, s.bt.Tenant, acct, []*linkd.Execution{e}, ev)
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				if !t0.Before(from) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	use := r.meter.sample().since(s0, 0, 0)
	slices.Sort(lat)
	st := stats{Requests: int64(len(lat)), Errors: errs.Load(), Seconds: cfg.WorkflowsDuration.Seconds(), CPU: use, Attempts: 1}
	st.RPS = float64(len(lat)) / st.Seconds
	st.P50ms, st.P90ms, st.P99ms = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.9)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		st.MaxMs = ms(lat[len(lat)-1])
	}
	if firstErr != nil {
		st.FirstError = firstErr.Error()
	}
	return st, nil
}

// wfBurst queues -workflows-burst runs through the service (spread over
// the accounts), then runs them with one runner until all ended, and calls
// the app as many times straight, 4 at once, for the floor.
func (r *runner) wfBurst(ctx context.Context, s *wfSetup, app *wfApp, res *workflowResult) error {
	cfg, logf := r.cfg, r.logf
	n := cfg.WorkflowsBurst
	for i := range n {
		payload := json.RawMessage(fmt.Sprintf(`{"order_id":"b-%d","total":%d}`, i, 10+i%90))
		if _, _, err := s.svcs.Executions.Trigger(ctx, s.bt.Tenant, "bench", linkd.TriggerInput{AccountID: wfAccountID(i), Event: "Order Placed", Payload: payload}); err != nil {
			return err
		}
	}
	res.Burst = n
	logf("%s: workflows: %d runs queued; running them with one runner", s.engine, n)
	r.meter.waitQuiet(ctx, cfg.QuietWait, logf)
	count := func(status string) (int, error) {
		p, err := s.db.store.ListExecutions(ctx, s.bt.Tenant, linkd.ExecutionFilter{Status: status, Limit: 1})
		if err != nil {
			return 0, err
		}
		return p.Total, nil
	}
	stopProfile, err := startProfile(profilePath(cfg, s.engine, "wf-burst"))
	if err != nil {
		return err
	}
	s0 := r.meter.sample()
	start := time.Now()
	runCtx, stopRunner := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.flows.Run(runCtx) })
	deadline := start.Add(10 * time.Minute)
	for {
		running, err := count(linkd.ExecRunning)
		if err != nil {
			stopRunner()
			wg.Wait()
			return err
		}
		if running == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	res.BurstCPU = r.meter.sample().since(s0, 0, 0)
	stopRunner()
	wg.Wait()
	if err := stopProfile(); err != nil {
		return err
	}
	done, err := count(linkd.ExecCompleted)
	if err != nil {
		return err
	}
	res.BurstErrored = n - done
	res.BurstSeconds = elapsed.Seconds()
	res.CompletedPerSec = float64(done) / elapsed.Seconds()
	logf("%s: workflows: %d of %d runs completed in %.2f s: %.0f/s; %s", s.engine, done, n, elapsed.Seconds(), res.CompletedPerSec, res.BurstCPU.String())

	// The floor: the same calls straight to the app, as many at once as
	// one tenant's runs on one instance.
	r.meter.waitQuiet(ctx, cfg.QuietWait, logf)
	direct := newClient(workflow.DefaultTenantCap)
	defer direct.CloseIdleConnections()
	var next atomic.Int64
	var errs atomic.Int64
	s0 = r.meter.sample()
	start = time.Now()
	var fw sync.WaitGroup
	for range workflow.DefaultTenantCap {
		fw.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				body := fmt.Sprintf(`{"order":"b-%d","account":"%s"}`, i, wfAccountID(i))
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.appURL+"/orders", strings.NewReader(body))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Key", "k-1")
					err = do(direct, req)
				}
				if err != nil {
					errs.Add(1)
				}
			}
		})
	}
	fw.Wait()
	elapsed = time.Since(start)
	res.AppFloorCPU = r.meter.sample().since(s0, 0, 0)
	res.AppFloorPerSec = float64(n-int(errs.Load())) / elapsed.Seconds()
	logf("%s: workflows: floor, %d calls straight to the app, %d at once: %.0f/s (%d errors); %s", s.engine, n, workflow.DefaultTenantCap,
		res.AppFloorPerSec, errs.Load(), res.AppFloorCPU.String())
	return nil
}

// wfLatency sends events at -workflows-rate for -workflows-lag-duration
// and measures, for each run, the time from the event's request sent to
// its step reaching the app.
func (r *runner) wfLatency(ctx context.Context, s *wfSetup, app *wfApp, client *http.Client, res *workflowResult) error {
	cfg, logf := r.cfg, r.logf
	rate := cfg.WorkflowsRate
	n := int(rate * cfg.WorkflowsLagDuration.Seconds())
	res.Rate, res.Events = rate, n
	r.meter.waitQuiet(ctx, cfg.QuietWait, logf)
	logf("%s: workflows: event→first step at %g events/s for %s", s.engine, rate, cfg.WorkflowsLagDuration)
	type sent struct {
		at, answered time.Time
		ids          []string
		err          error
	}
	out := make([]sent, n)
	s0 := r.meter.sample()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			o := &out[i]
			req, err := triggerRequest(ctx, s.base, s.bt.secret, 2_000_000_000+i)
			if err != nil {
				o.err = err
				return
			}
			o.at = time.Now()
			resp, err := client.Do(req)
			if err != nil {
				o.err = err
				return
			}
			defer resp.Body.Close()
			var body struct {
				IDs []string `json:"execution_ids"`
			}
			b, _ := io.ReadAll(resp.Body)
			o.answered = time.Now()
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &body) != nil || len(body.IDs) != 1 {
				o.err = fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
				return
			}
			o.ids = body.IDs
		})
	}
	wg.Wait()
	// Wait for the steps still due, up to a minute.
	deadline := time.Now().Add(time.Minute)
	for {
		missing := 0
		for _, o := range out {
			for _, id := range o.ids {
				if _, ok := app.arrived(id); !ok {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.LatCPU = r.meter.sample().since(s0, 0, 0)
	var lags, answers []time.Duration
	var firstErr error
	for _, o := range out {
		if o.err != nil && firstErr == nil {
			firstErr = o.err
		}
		if len(o.ids) == 0 {
			continue
		}
		answers = append(answers, o.answered.Sub(o.at))
		if at, ok := app.arrived(o.ids[0]); ok {
			lags = append(lags, at.Sub(o.at))
		}
	}
	if firstErr != nil {
		return fmt.Errorf("trigger: %w", firstErr)
	}
	slices.Sort(lags)
	slices.Sort(answers)
	res.Reached = len(lags)
	res.AnswerP50ms = ms(percentile(answers, 0.5))
	res.P50ms, res.P90ms, res.P99ms = ms(percentile(lags, 0.5)), ms(percentile(lags, 0.9)), ms(percentile(lags, 0.99))
	if len(lags) > 0 {
		res.MaxMs = ms(lags[len(lags)-1])
	}
	logf("%s: workflows: %d events, %d steps reached the app: trigger p50 %.1f ms; event→first step p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; %s",
		s.engine, n, res.Reached, res.AnswerP50ms, res.P50ms, res.P90ms, res.P99ms, res.MaxMs, res.LatCPU.String())
	return nil
}

// workflowsMarkdown renders the phase's tables.
func workflowsMarkdown(rs []workflowResult) string {
	var b strings.Builder
	b.WriteString("\n### Workflows\n\nEvents accepted over the API (runner stopped) beside the store's QueueExecutions of the same rows:\n\n")
	b.WriteString("| Engine | Events/s | p50 / p99 ms | Floor runs/s | p50 / p99 ms | Ratio | Cores: bench, PG, other |\n|---|--:|--:|--:|--:|--:|---|\n")
	for _, x := range rs {
		fmt.Fprintf(&b, "| %s | %s | %.2f / %.2f | %s | %.2f / %.2f | %.2f | %s; %s |\n", x.Engine, thousands(x.Accepted.RPS), x.Accepted.P50ms, x.Accepted.P99ms,
			thousands(x.QueueFloor.RPS), x.QueueFloor.P50ms, x.QueueFloor.P99ms, x.Ratio, x.Accepted.CPU.String(), x.QueueFloor.CPU.String())
	}
	b.WriteString("\nRuns of the one-step http workflow, queued then completed by one runner, beside as many calls straight to the app; and event→first-step latency with the runner running:\n\n")
	b.WriteString("| Engine | Runs | Completed/s | Cores | App direct/s | Events/s sent | Reached | Trigger p50 ms | First step p50 / p90 / p99 / max ms | Cores |\n|---|--:|--:|---|--:|--:|--:|--:|--:|---|\n")
	for _, x := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %g | %s of %s | %.1f | %.1f / %.1f / %.1f / %.1f | %s |\n", x.Engine, thousands(float64(x.Burst)),
			thousands(x.CompletedPerSec), x.BurstCPU.String(), thousands(x.AppFloorPerSec), x.Rate, thousands(float64(x.Reached)), thousands(float64(x.Events)),
			x.AnswerP50ms, x.P50ms, x.P90ms, x.P99ms, x.MaxMs, x.LatCPU.String())
	}
	return b.String()
}
