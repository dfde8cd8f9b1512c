package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/webhooks"
	"github.com/linkd-dev/linkd/worker"
)

// The webhooks phase measures what outbound webhooks cost and how late they
// arrive, with the sender wired as cmd/linkd/serve.go wires it (the
// SSRF-guarded client with loopback allowed, the default worker options:
// 1 s poll, 16 at once, 4 per tenant) and a loopback receiver that answers
// 200 at once:
//
//  1. creates/s through the API on a tenant with no endpoint and on one with
//     an endpoint subscribed to Linked Account Created, back to back;
//  2. delivery lag, from the create's answer to the receiver getting the
//     POST, at a steady rate to one endpoint, and at a lower rate to many
//     endpoints subscribed to every event;
//  3. (-webhooks-import) the CSV import of the import phase's file without
//     and with an endpoint subscribed to Linked Account Created.

// webhookResult is the webhooks phase's figures on one engine.
type webhookResult struct {
	Engine string `json:"engine"`
	// NoEndpoint and OneEndpoint are the create loads; Ratio the second's
	// creates/s over the first's.
	NoEndpoint  stats   `json:"creates_no_endpoint"`
	OneEndpoint stats   `json:"creates_one_endpoint"`
	Ratio       float64 `json:"ratio"`
	// Lags are the delivery-lag runs.
	Lags []lagResult `json:"lags"`
	// Imports are the import without and with an endpoint (-webhooks-import).
	ImportPlain    *importRun `json:"import_no_endpoint,omitempty"`
	ImportEndpoint *importRun `json:"import_one_endpoint,omitempty"`
	// ImportDeliveries is what the receiver got during the import with an
	// endpoint (Linked Account Created only: none expected).
	ImportDeliveries int `json:"import_deliveries"`
}

// lagResult is one delivery-lag run.
type lagResult struct {
	Endpoints int     `json:"endpoints"`
	Rate      float64 `json:"target_events_per_second"`
	Seconds   float64 `json:"seconds"`
	// Created is the creates answered 200, CreatedPerSec their rate.
	Created       int     `json:"created"`
	CreatedPerSec float64 `json:"created_per_second"`
	CreateErrors  int     `json:"create_errors"`
	// Expected is Created × Endpoints; Delivered how many came, within
	// the drain time; Duplicates those that came twice.
	Expected   int `json:"expected"`
	Delivered  int `json:"delivered"`
	Duplicates int `json:"duplicates"`
	// DeliveredPerSec is Delivered over the time from the first create
	// to the last delivery.
	DeliveredPerSec float64 `json:"delivered_per_second"`
	P50ms           float64 `json:"lag_p50_ms"`
	P90ms           float64 `json:"lag_p90_ms"`
	P99ms           float64 `json:"lag_p99_ms"`
	MaxMs           float64 `json:"lag_max_ms"`
	CPU             cpuUse  `json:"cpu"`
}

// receiver is the loopback endpoint: POST /hook/{n} records when each
// Linked Account event arrived, by endpoint and account, and answers 200.
type receiver struct {
	mu    sync.Mutex
	got   map[string]time.Time // "n/linked_account_id" → first arrival
	dups  int
	total int
	last  time.Time
}

func newReceiver() *receiver { return &receiver{got: map[string]time.Time{}} }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		LinkedAccountID string `json:"linked_account_id"`
	}
	json.Unmarshal(b, &ev)
	key := strings.TrimPrefix(r.URL.Path, "/hook/") + "/" + ev.LinkedAccountID
	rc.mu.Lock()
	rc.total++
	rc.last = at
	if _, ok := rc.got[key]; ok {
		rc.dups++
	} else {
		rc.got[key] = at
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// count is how many deliveries came so far.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.total
}

// startSender runs a webhook sender on store as serve does, until the
// returned stop is called.
// tenantCap, when not 0, replaces the sender's per-tenant cap: an
// experiment (-webhooks-tenant-cap), not what serve runs.
func startSender(store linkd.Store, keys linkd.Keyring, tenantCap int) (stop func()) {
	client := outbound.NewClient(outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: webhooks.Timeout})
	s := webhooks.NewSender(store, keys, webhooks.Options{Client: client}, worker.Options{Owner: "bench", TenantCap: tenantCap, Concurrency: max(tenantCap, 0),
		Logger: slog.New(slog.DiscardHandler)})
	// As serve wires it; a stopped sender's Wake stays registered and
	// does nothing.
	store.OnWork(linkd.WorkWebhooks, s.Wake)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// serveWebhooks serves the product on db with a sender running beside it.
func serveWebhooks(db *database, bt *benchTenant, tenantCap int) (base string, stop func(), err error) {
	base, stopHTTP, err := serveLinkd(db, bt, nil)
	if err != nil {
		return "", nil, err
	}
	stopSender := startSender(db.store, bt.keys, tenantCap)
	return base, func() { stopHTTP(); stopSender() }, nil
}

// addEndpointAPI creates an endpoint receiving events through the API, as
// a product's backend does.
func addEndpointAPI(ctx context.Context, client *http.Client, base, secret, url string, events []string) error {
	body, _ := json.Marshal(map[string]any{"webhook_url": url, "webhook_events": events})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2/public/webhook", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", secret)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /api/v2/public/webhook: status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// addEndpointsStore writes n endpoints receiving every event straight
// through the store, as WebhookService.Create writes one: the service
// refuses more than linkd.MaxWebhooksPerTenant per environment, and the
// fan-out run needs more.
func addEndpointsStore(ctx context.Context, store linkd.Store, bt *benchTenant, recv string, n int) error {
	for i := range n {
		now := linkd.StoreTime(time.Now())
		w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Type: linkd.WebhookTypeDefault, Method: "POST", Headers: map[string]string{},
			Body: linkd.DefaultWebhookBody, Events: slices.Clone(linkd.WebhookEvents), URL: recv + "/hook/" + strconv.Itoa(i), CreatedAt: now, UpdatedAt: now}
		if err := linkd.SealWebhookSecret(bt.keys, bt.Tenant, w, linkd.NewWebhookSecret()); err != nil {
			return err
		}
		ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "bench", Action: linkd.AuditWebhookCreate,
			Fields: []string{"webhook_url", "webhook_events", "secret"}, Details: map[string]any{"webhook_id": w.ID}}
		if err := store.CreateWebhook(ctx, bt.Tenant, w, ev); err != nil {
			return fmt.Errorf("endpoint %d: %w", i, err)
		}
	}
	return nil
}

// webhooksPhase runs the phase on eng.
func (r *runner) webhooksPhase(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	rc := newReceiver()
	recv, stopRecv, err := serve(rc)
	if err != nil {
		return err
	}
	defer stopRecv()
	res := webhookResult{Engine: name}

	// 1. Creates/s, no endpoint vs one, each on a fresh database, back to back.
	dbA, btA, err := r.openTenant(ctx, eng, "wh_none")
	if err != nil {
		return err
	}
	defer dbA.Drop()
	dbB, btB, err := r.openTenant(ctx, eng, "wh_one")
	if err != nil {
		return err
	}
	defer dbB.Drop()
	baseA, stopA, err := serveWebhooks(dbA, btA, cfg.WebhooksTenantCap)
	if err != nil {
		return err
	}
	defer stopA()
	baseB, stopB, err := serveWebhooks(dbB, btB, cfg.WebhooksTenantCap)
	if err != nil {
		return err
	}
	defer stopB()
	client := newClient(cfg.CreateClients)
	defer client.CloseIdleConnections()
	if err := addEndpointAPI(ctx, client, baseB, btB.secret, recv+"/hook/0", []string{linkd.EventAccountCreated}); err != nil {
		return err
	}
	wc := *cfg
	wc.Warmup, wc.Duration = cfg.WebhooksWarmup, cfg.WebhooksDuration
	logf("%s: webhooks: creates with no endpoint, then with one subscribed to %s: %d clients, %s warm-up + %s each",
		name, linkd.EventAccountCreated, cfg.CreateClients, wc.Warmup, wc.Duration)
	before := rc.count()
	if res.NoEndpoint, res.OneEndpoint, err = r.measurePair(ctx, client, createSpec(&wc, baseA, btA.secret, profilePath(cfg, name, "wh-create-none")),
		createSpec(&wc, baseB, btB.secret, profilePath(cfg, name, "wh-create-one"))); err != nil {
		return err
	}
	if res.NoEndpoint.RPS > 0 {
		res.Ratio = res.OneEndpoint.RPS / res.NoEndpoint.RPS
	}
	logf("%s: webhooks: no endpoint %.0f creates/s (p99 %.2f ms), one endpoint %.0f creates/s (p99 %.2f ms): %.3f ×; %d delivered by the end of the window",
		name, res.NoEndpoint.RPS, res.NoEndpoint.P99ms, res.OneEndpoint.RPS, res.OneEndpoint.P99ms, res.Ratio, rc.count()-before)
	stopA()
	stopB()
	client.CloseIdleConnections()
	if err := errors.Join(dbA.Drop(), dbB.Drop()); err != nil {
		return err
	}

	// 2. Delivery lag: one endpoint at -webhooks-rate, then the fan-out.
	runs := []struct {
		endpoints int
		rate      float64
	}{{1, cfg.WebhooksRate}, {cfg.WebhooksFanout, cfg.WebhooksFanoutRate}}
	for _, run := range runs {
		if run.endpoints < 1 || run.rate <= 0 {
			continue
		}
		lr, err := r.lagRun(ctx, eng, rc, recv, run.endpoints, run.rate)
		if err != nil {
			return fmt.Errorf("lag, %d endpoints: %w", run.endpoints, err)
		}
		res.Lags = append(res.Lags, lr)
	}

	// 3. The import, without and with an endpoint.
	if cfg.WebhooksImport {
		file, err := r.importFile()
		if err != nil {
			return err
		}
		r.logf("%s: webhooks: import of %d rows, no endpoint", name, file.info.Rows)
		im, err := r.importOnce(ctx, eng, file, "wh_import_none", "", nil)
		if err != nil {
			return err
		}
		im.db.Drop()
		res.ImportPlain = &im.run
		r.logf("%s: webhooks: import, no endpoint: %s", name, im.run)
		before := rc.count()
		var stopSend func()
		im, err = r.importOnce(ctx, eng, file, "wh_import_one", "", func(ctx context.Context, db *database, bt *benchTenant) error {
			svcs := linkd.NewServices(db.store, bt.keys, "http://127.0.0.1")
			events := []string{linkd.EventAccountCreated}
			if _, _, err := svcs.Webhooks.Create(ctx, bt.Tenant, "bench", linkd.WebhookInput{URL: &recv, Events: &events}); err != nil {
				return err
			}
			stopSend = startSender(db.store, bt.keys, cfg.WebhooksTenantCap)
			return nil
		})
		if stopSend != nil {
			stopSend()
		}
		if err != nil {
			return err
		}
		im.db.Drop()
		res.ImportEndpoint = &im.run
		res.ImportDeliveries = rc.count() - before
		r.logf("%s: webhooks: import, one endpoint: %s; %d deliveries", name, im.run, res.ImportDeliveries)
	}
	r.rep.Webhooks = append(r.rep.Webhooks, res)
	return nil
}

// lagRun creates accounts at rate per second for -webhooks-lag-duration on
// a fresh database with endpoints endpoints receiving every event, and
// measures, for each delivery, the time from the create's answer to the
// receiver getting it.
func (r *runner) lagRun(ctx context.Context, eng engine, rc *receiver, recv string, endpoints int, rate float64) (lagResult, error) {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	label := "wh_lag" + strconv.Itoa(endpoints)
	db, bt, err := r.openTenant(ctx, eng, label)
	if err != nil {
		return lagResult{}, err
	}
	defer db.Drop()
	if err := addEndpointsStore(ctx, db.store, bt, recv, endpoints); err != nil {
		return lagResult{}, err
	}
	base, stop, err := serveWebhooks(db, bt, cfg.WebhooksTenantCap)
	if err != nil {
		return lagResult{}, err
	}
	defer stop()
	clients := 64
	client := newClient(clients)
	defer client.CloseIdleConnections()

	res := lagResult{Endpoints: endpoints, Rate: rate, Seconds: cfg.WebhooksLagDuration.Seconds()}
	logf("%s: webhooks: lag to %d endpoint(s) at %g creates/s for %s", name, endpoints, rate, cfg.WebhooksLagDuration)
	r.meter.waitQuiet(ctx, cfg.QuietWait, logf)
	n := int(rate * cfg.WebhooksLagDuration.Seconds())
	answered := make([]time.Time, n)
	ids := make([]string, n)
	var errs int
	var firstErr error
	var mu sync.Mutex
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range jobs {
				body := fmt.Sprintf(`{"linked_account_id":"%s","name":"Customer %d","udf":{"plan":"pro"}}`, ids[i], i)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+accountsPath, strings.NewReader(body))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("x-api-key", bt.secret)
					err = do(client, req)
				}
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				answered[i] = time.Now()
			}
		})
	}
	stopProfile, err := startProfile(profilePath(cfg, name, label))
	if err != nil {
		return lagResult{}, err
	}
	s0 := r.meter.sample()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := range n {
		ids[i] = fmt.Sprintf("lag-%d-%07d", endpoints, i)
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sent := time.Since(start)
	res.CreateErrors = errs
	for _, t := range answered {
		if !t.IsZero() {
			res.Created++
		}
	}
	res.CreatedPerSec = float64(res.Created) / max(sent, cfg.WebhooksLagDuration).Seconds()
	res.Expected = res.Created * endpoints
	// Wait for every delivery, or the drain time.
	deadline := time.Now().Add(cfg.WebhooksDrain)
	for {
		rc.mu.Lock()
		got := 0
		for i, t := range answered {
			if t.IsZero() {
				continue
			}
			for e := range endpoints {
				if _, ok := rc.got[strconv.Itoa(e)+"/"+ids[i]]; ok {
					got++
				}
			}
		}
		rc.mu.Unlock()
		if got >= res.Expected || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.CPU = r.meter.sample().since(s0, 0, 0)
	if err := stopProfile(); err != nil {
		return lagResult{}, err
	}
	rc.mu.Lock()
	var lags []time.Duration
	last := start
	for i, t := range answered {
		if t.IsZero() {
			continue
		}
		for e := range endpoints {
			if at, ok := rc.got[strconv.Itoa(e)+"/"+ids[i]]; ok {
				lags = append(lags, at.Sub(t))
				if at.After(last) {
					last = at
				}
			}
		}
	}
	res.Duplicates = rc.dups
	rc.mu.Unlock()
	slices.Sort(lags)
	res.Delivered = len(lags)
	res.DeliveredPerSec = float64(res.Delivered) / last.Sub(start).Seconds()
	res.P50ms, res.P90ms, res.P99ms = ms(percentile(lags, 0.5)), ms(percentile(lags, 0.9)), ms(percentile(lags, 0.99))
	if len(lags) > 0 {
		res.MaxMs = ms(lags[len(lags)-1])
	}
	logf("%s: webhooks: %d endpoint(s): %d created (%.0f/s, %d errors %v), %d/%d delivered (%.0f/s), lag p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms; %s",
		name, endpoints, res.Created, res.CreatedPerSec, errs, firstErr, res.Delivered, res.Expected, res.DeliveredPerSec, res.P50ms, res.P90ms, res.P99ms, res.MaxMs, res.CPU.String())
	return res, nil
}

// webhooksMarkdown renders the phase's tables.
func webhooksMarkdown(rs []webhookResult) string {
	var b strings.Builder
	b.WriteString("\n### Webhooks\n\nCreates over HTTP on a tenant with no endpoint and on one with an endpoint subscribed to Linked Account Created (sender running, loopback receiver), back to back:\n\n")
	b.WriteString("| Engine | No endpoint creates/s | p50 / p99 ms | One endpoint creates/s | p50 / p99 ms | Ratio | Cores: bench, PG, other |\n|---|--:|--:|--:|--:|--:|---|\n")
	for _, x := range rs {
		fmt.Fprintf(&b, "| %s | %s | %.2f / %.2f | %s | %.2f / %.2f | %.3f | %s; %s |\n", x.Engine, thousands(x.NoEndpoint.RPS), x.NoEndpoint.P50ms, x.NoEndpoint.P99ms,
			thousands(x.OneEndpoint.RPS), x.OneEndpoint.P50ms, x.OneEndpoint.P99ms, x.Ratio, x.NoEndpoint.CPU.String(), x.OneEndpoint.CPU.String())
	}
	b.WriteString("\nDelivery lag, from the create's answer to the receiver getting the POST:\n\n")
	b.WriteString("| Engine | Endpoints | Target events/s | Created/s | Deliveries | Delivered/s | Lag p50 ms | p90 ms | p99 ms | max ms | Cores: bench, PG, other |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, x := range rs {
		for _, l := range x.Lags {
			fmt.Fprintf(&b, "| %s | %s | %g | %s | %s of %s | %s | %.0f | %.0f | %.0f | %.0f | %s |\n", x.Engine, thousands(float64(l.Endpoints)), l.Rate, thousands(l.CreatedPerSec),
				thousands(float64(l.Delivered)), thousands(float64(l.Expected)), thousands(l.DeliveredPerSec), l.P50ms, l.P90ms, l.P99ms, l.MaxMs, l.CPU.String())
		}
	}
	for _, x := range rs {
		if x.ImportPlain != nil && x.ImportEndpoint != nil {
			fmt.Fprintf(&b, "\nImport (%s), no endpoint: %s\n\nImport (%s), one endpoint on Linked Account Created: %s; %d deliveries; %.3f × the rows/s without\n",
				x.Engine, x.ImportPlain, x.Engine, x.ImportEndpoint, x.ImportDeliveries, x.ImportEndpoint.RowsPerSec()/x.ImportPlain.RowsPerSec())
		}
	}
	return b.String()
}
