package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/hosted"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/ratelimit"
	"github.com/linkd-dev/linkd/webhooks"
	"github.com/linkd-dev/linkd/worker"
	"github.com/linkd-dev/linkd/workflow"
)

// instanceID names this process in leases of shared work: host, pid and a
// random part, so a restarted process never mistakes an old lease for its own.
func instanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// defaultMemoryLimit is serve's soft limit on the Go runtime's memory
// unless GOMEMLIMIT is set. SQLite's page caches are outside it.
const defaultMemoryLimit = 48 << 20

// runServe runs the server until ctx ends (SIGTERM or SIGINT), then stops
// accepting connections and lets in-flight requests finish for up to the
// shutdown timeout. onListen, when set, receives the bound address of the
// main listener (tests listen on port 0).
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onListen func(addr string)) error {
	return serveListeners(ctx, args, getenv, stdout, stderr, func(name, addr string) {
		if name == mainListener && onListen != nil {
			onListen(addr)
		}
	})
}

// Listener names, as serveListeners reports them.
const (
	mainListener    = "main"
	metricsListener = "metrics"
)

// serveListeners is runServe reporting every bound listener by name (the
// main one last, once all are listening), for tests that use more than one.
func serveListeners(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onListen func(name, addr string)) error {
	f := newFlags("serve", getenv, stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	c := f.cfg
	log := c.logger(stderr)
	if getenv("GOGC") == "" {
		// linkd's live heap is small (a few MB), so the default GOGC=100
		// collects hundreds of times a second under load; 400 measured
		// 35-40 % more list throughput (docs/BENCHMARKS.md) for a heap
		// that stays in the tens of MB. GOGC, when set, wins.
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		// GOGC=400 lets the heap grow to five times what is live, which a
		// 1M-row import made +60 MB: with the SQLite writer's page cache
		// (64 MiB) the server grew by 137–141 MiB where issue 16 allows 100.
		// A soft limit of 48 MiB on the Go heap caps that (+83 MiB measured,
		// imports as fast) and leaves reads alone, whose live heap is a few
		// MB. GOMEMLIMIT, when set, wins (docs/operations.md, Capacity).
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	log.Info("starting linkd", "version", version, "config", c.logValue())

	store, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer store.Close()
	if pg, ok := store.(*postgres.Store); ok && pg.AutovacuumOff(ctx) {
		log.Warn("PostgreSQL's autovacuum is off: dead row versions will pile up and every query slow down; switch it on, or vacuum linked_accounts, account_counts and account_udf often (docs/operations.md)")
	}
	keys, err := openKeyring(ctx, c, store, log)
	if err != nil {
		return err
	}
	orgs, err := store.Orgs(ctx)
	if err != nil {
		return err
	}
	if len(orgs) == 0 {
		org, created, err := ensureOrg(ctx, store, "")
		if err != nil {
			return err
		}
		if created {
			log.Info("created the default organization; make an API key with: linkd apikey create --env test", "org", org.Name)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerStoreMetrics(reg, store, log)
	registerMemoryMetrics(reg)
	work := newWorkerMetrics(reg)
	owner := instanceID()
	svcs := linkd.NewServices(store, keys, c.PublicURL)
	svcs.Sessions.TTL = c.SessionTTL
	svcs.Bulk.Owner, svcs.Bulk.Lease, svcs.Bulk.Logger = owner, c.JobLease, log
	accounts := svcs.Accounts
	apps, err := catalog.LoadFile(c.AppsFile)
	if err != nil {
		return fmt.Errorf("apps: %w", err)
	}
	log.Info("app catalog loaded", "apps", len(apps.Apps()), "file", c.AppsFile)
	if c.ScheduleEvery > 0 {
		// Only tests and demos set it: the catalog's periods are checked
		// against linkd.MinScheduleEvery, this one is not.
		for _, app := range apps.Apps() {
			for i := range app.Workflows {
				if tr := app.Workflows[i].Trigger; tr != nil && tr.Period > 0 {
					tr.Period = c.ScheduleEvery
				}
			}
		}
		log.Warn("scheduled workflows run at the test period", "every", c.ScheduleEvery)
	}
	svcs.Webhooks.Catalog = apps
	// Every call to the outside leaves through the SSRF-guarded client:
	// token endpoints with a whole-call timeout, the proxy with its own
	// (which bounds the wait for an answer, not a long download), and
	// without Go's transparent gzip so answers pass through unchanged.
	egress := outbound.Options{AllowPrivate: c.AllowPrivate}
	tokenClient := outbound.NewClient(outbound.Options{AllowPrivate: c.AllowPrivate, Timeout: 30 * time.Second})
	proxyTransport := outbound.NewTransport(egress)
	proxyTransport.DisableCompression = true
	proxyClient := outbound.NewClient(egress)
	proxyClient.Transport = proxyTransport
	connections := connect.NewService(store, accounts, apps, c.PublicURL)
	connections.RefreshAhead, connections.RefreshLease, connections.Owner, connections.HTTPClient = c.RefreshAhead, c.RefreshLease, owner, tokenClient
	caller := &proxy.Caller{Connections: connections, Catalog: apps, Client: proxyClient, MaxBody: c.ProxyMaxBody, Timeout: c.ProxyTimeout}
	// Workflow runs call the apps through the same caller as the proxy.
	svcs.Executions.Catalog = apps
	svcs.Executions.TickBatch, svcs.Executions.TickLease = c.TickBatch, c.JobLease
	flowMetrics := registerWorkflowMetrics(reg, store)
	registerJobMetrics(reg, store)
	flows := workflow.NewRunner(store, workflow.Options{Catalog: apps, Caller: caller, Logger: log,
		Observe: flowMetrics.Step, Ended: flowMetrics.Ended,
		Metadata: func(ctx context.Context, t linkd.Tenant, accountID, slug string) (map[string]string, error) {
			cr, err := connections.Credentials(ctx, t, accountID, slug, connect.CredentialsOptions{})
			if err != nil {
				return nil, err
			}
			return cr.Metadata, nil
		}}, worker.Options{Owner: owner, Lease: c.JobLease, Logger: log, Observer: work})
	svcs.Executions.Wake = flows.Wake
	connections.Runs = svcs.Executions
	importer := csvio.NewImporter(store, accounts, c.ImportMaxBytes)
	runner := csvio.NewRunner(importer, worker.Options{Owner: owner, Lease: c.ImportLease, Logger: log, Observer: work}, 0)
	// Webhook deliveries leave through the guarded client too; each
	// attempt is bounded by webhooks.Timeout.
	sender := webhooks.NewSender(store, keys, webhooks.Options{Client: outbound.NewClient(outbound.Options{AllowPrivate: c.AllowPrivate,
		Timeout: webhooks.Timeout}), Schedule: c.WebhookRetrySchedule, Observe: registerWebhookMetrics(reg, store)},
		worker.Options{Owner: owner, Logger: log, Observer: work})
	// A delivery is sent right after the commit that made it (on
	// PostgreSQL, by whichever instance hears first), not at the next poll.
	store.OnWork(linkd.WorkWebhooks, sender.Wake)
	// Runs queued on any instance start here without waiting for a poll.
	store.OnWork(linkd.WorkExecutions, flows.Wake)
	bulk := worker.BulkJobs(svcs.Bulk, worker.Options{Poll: 2 * time.Second, Logger: log, Observer: work})
	dash, err := dashboard.New(dashboard.Config{Store: store, Services: svcs, Imports: importer, WakeImports: runner.Wake,
		WakeBulk: bulk.Wake, Connections: connections, Logger: log, TrustedProxies: c.TrustedProxies, PublicURL: c.PublicURL})
	if err != nil {
		return err
	}
	if err := logSetupCodes(ctx, store, log, c.PublicURL); err != nil {
		return err
	}
	// The call log is written behind the proxy's back, in batches. Its
	// Close, deferred here, runs after the HTTP servers have drained below
	// (no call can be recorded after) and before the store closes.
	callLog := linkd.NewCallRecorder(store, linkd.CallRecorderOptions{Logger: log})
	defer callLog.Close()
	pageLimit := ratelimit.New(c.RateLimit, nil)
	defer pageLimit.Stop()
	pages := hosted.New(hosted.Config{Store: store, Connections: connections, Limiter: pageLimit, Logger: log, RequestID: linkdhttp.RequestID})
	srv := linkdhttp.NewServer(linkdhttp.Config{
		Store:       store,
		Services:    svcs,
		Imports:     importer,
		Connections: connections,
		Apps:        caller,
		Pages:       pages,
		CallLog:     callLog,
		WakeImports: runner.Wake,
		Logger:      log,
		RateLimit:   c.RateLimit,
		Registry:    reg,
		Version:     version,
		Dashboard:   dash,
		Workflows:   flows,

		MetricsToken:     c.MetricsToken,
		MetricsElsewhere: c.MetricsAddr != "",
	})
	defer srv.Close()
	caller.Observe = srv.ObserveAppCall
	// Background work stops after the HTTP server has drained: a batch in
	// flight commits or rolls back whole, and the job resumes from there.
	bgctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { runner.Run(bgctx) })
	bg.Go(func() {
		connect.NewRevoker(connections, worker.Options{Owner: owner, Logger: log, Observer: work}).Run(bgctx)
	})
	bg.Go(func() {
		connect.NewRefresher(connections, worker.Options{Owner: owner, Logger: log, Observer: work}).Run(bgctx)
	})
	bg.Go(func() { bulk.Run(bgctx) })
	bg.Go(func() { sender.Run(bgctx) })
	bg.Go(func() { flows.Run(bgctx) })
	for _, sch := range workflow.Schedules(svcs.Executions, apps, worker.Options{Owner: owner, Logger: log}) {
		bg.Go(func() { sch.Run(bgctx) })
	}
	// Waited for with the rest (bg.Wait), so no purge runs on a closed store.
	bg.Go(func() {
		purgeSchedule(store, callLog, svcs.Idempotency, svcs.Webhooks, svcs.Executions, c.LogRetention, worker.Options{Owner: owner, Logger: log}, log).Run(bgctx)
	})
	defer func() {
		stopBackground()
		bg.Wait()
	}()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // long enough for large uploads
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}}
	listeners := []net.Listener{ln}
	if c.MetricsAddr != "" {
		mln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		servers = append(servers, &http.Server{
			Handler:           srv.MetricsHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
		})
		listeners = append(listeners, mln)
		log.Info("serving /metrics on its own listener only", "metrics_addr", mln.Addr().String())
		if onListen != nil {
			onListen(metricsListener, mln.Addr().String())
		}
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", c.PublicURL)
	if onListen != nil {
		onListen(mainListener, ln.Addr().String())
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	var serveErr error
	select {
	case serveErr = <-errc: // a listener failed: stop the others too
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	var shutdownErr error
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && shutdownErr == nil {
			shutdownErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	if serveErr != nil {
		return serveErr
	}
	if shutdownErr != nil {
		return shutdownErr
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("stopped")
	return nil
}

// runMigrate applies pending migrations and exits.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", getenv, stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	log := f.cfg.logger(stderr)
	log.Debug("config", "config", f.cfg.logValue())
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}
