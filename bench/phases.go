package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	linkdhttp "github.com/linkd-dev/linkd/http"
)

// runner runs the phases of one benchmark run and collects their figures.
type runner struct {
	cfg   *config
	rep   *report
	logf  func(format string, args ...any)
	meter cpuMeter
}

// measure runs spec once the machine is quiet (or the wait is over) and,
// when other processes took CPU time during the measured window anyway,
// again, up to -attempts times in all. It keeps the least disturbed run.
func (r *runner) measure(ctx context.Context, client *http.Client, spec loadSpec) (stats, error) {
	var best stats
	made := 0
	for attempt := 1; attempt <= max(r.cfg.Attempts, 1); attempt++ {
		made = attempt
		r.meter.waitQuiet(ctx, r.cfg.QuietWait, r.logf)
		spec.Attempt = attempt
		s, err := r.runLoad(ctx, client, spec)
		if err != nil {
			return stats{}, err
		}
		if attempt == 1 || s.CPU.Other < best.CPU.Other {
			best = s
		}
		if s.CPU.Other < quietThreshold {
			break
		}
		if attempt < r.cfg.Attempts {
			r.logf("machine: other processes used %.2f cores during the run (%.0f req/s); running it again", s.CPU.Other, s.RPS)
		}
	}
	best.Attempts = made
	return best, nil
}

// accountsPath is the API's linked-account collection.
const accountsPath = "/api/v2/public/linked-account"

// serve runs h on a loopback port with the timeouts `linkd serve` uses and
// returns its base URL and a function that shuts it down.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

// newServer builds the product's HTTP server on store as `linkd serve` does:
// a real keyring, request logging at info level (text, as by default, into
// io.Discard: formatting is measured, the terminal is not) and, as the
// benchmark asks, no rate limit.
func newServer(store linkd.Store, bt *benchTenant) *linkdhttp.Server {
	return linkdhttp.NewServer(linkdhttp.Config{
		Store:     store,
		Accounts:  &linkd.AccountService{Store: store, Keys: bt.keys},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		RateLimit: 0,
		Version:   "bench",
	})
}

// profilePath names the CPU profile of one measured window, or "" for none.
func profilePath(cfg *config, engine, workload string) string {
	if cfg.CPUProfile == "" {
		return ""
	}
	return filepath.Join(cfg.CPUProfile, engine+"-"+workload+".prof")
}

// createSpec is the create load: each request a new linked_account_id, a
// name and three UDFs, as a JSON API client sends them.
func createSpec(cfg *config, base, secret, profile string) loadSpec {
	return loadSpec{
		Clients: cfg.CreateClients, Warmup: cfg.Warmup, Duration: cfg.Duration, Profile: profile,
		Request: func(attempt, c, seq int, rng *rand.Rand) (*http.Request, error) {
			body := fmt.Sprintf(`{"linked_account_id":"cust-%d-%03d-%08d","name":"Customer %d-%d","udf":{"plan":"pro","seats":%d,"region":"eu-west-1"}}`,
				attempt, c, seq, c, seq, 1+seq%500)
			req, err := http.NewRequest(http.MethodPost, base+accountsPath, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("x-api-key", secret)
			return req, nil
		},
	}
}

// ceiling runs the create load against a handler that reads the body
// and answers without decoding or storing anything: what the load generator
// and net/http alone reach on this machine, the ceiling of every create figure.
func (r *runner) ceiling(ctx context.Context) error {
	cfg, logf := r.cfg, r.logf
	base, stop, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"_id":"0"}`)
	}))
	if err != nil {
		return err
	}
	defer stop()
	client := newClient(cfg.CreateClients)
	defer client.CloseIdleConnections()
	logf("ceiling: creates to a no-op handler: %d clients, %s warm-up + %s", cfg.CreateClients, cfg.Warmup, cfg.Duration)
	s, err := r.measure(ctx, client, createSpec(cfg, base, "", profilePath(cfg, "none", "create-noop")))
	if err != nil {
		return err
	}
	logf("ceiling: %.0f req/s, p50 %.2f ms, p99 %.2f ms", s.RPS, s.P50ms, s.P99ms)
	r.rep.Results = append(r.rep.Results, result{Engine: "–", Workload: "create, no-op handler (HTTP ceiling)",
		Request: "POST " + accountsPath + " (body read, not decoded)", Clients: cfg.CreateClients, Linkd: s, Target: "–", Met: true})
	return nil
}

// creates measures creates through linkd, then through the floor, each
// on a fresh database of the engine.
func (r *runner) creates(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	db, err := eng.Open(ctx, "create")
	if err != nil {
		return err
	}
	defer db.Drop()
	r.rep.noteVersion(name, eng.Version(ctx, db))
	bt, err := setupTenant(ctx, db.store)
	if err != nil {
		return err
	}
	srv := newServer(db.store, bt)
	defer srv.Close()
	base, stop, err := serve(srv.Handler())
	if err != nil {
		return err
	}
	client := newClient(cfg.CreateClients)
	logf("%s: creates through linkd: %d clients, %s warm-up + %s", name, cfg.CreateClients, cfg.Warmup, cfg.Duration)
	api, err := r.measure(ctx, client, createSpec(cfg, base, bt.secret, profilePath(cfg, name, "create")))
	stop()
	client.CloseIdleConnections()
	if err != nil {
		return err
	}
	logf("%s: linkd %.0f creates/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, api.RPS, api.P50ms, api.P99ms, api.Errors, api.FirstError)
	if err := db.Drop(); err != nil {
		return err
	}

	fdb, err := eng.Open(ctx, "floor")
	if err != nil {
		return err
	}
	defer fdb.Drop()
	h, closeFloor, err := eng.Floor(ctx, fdb, linkd.Tenant{OrgID: linkd.NewID(), Env: linkd.EnvTest})
	if err != nil {
		return err
	}
	defer closeFloor()
	base, stop, err = serve(h)
	if err != nil {
		return err
	}
	logf("%s: creates through the floor: %d clients, %s warm-up + %s", name, cfg.CreateClients, cfg.Warmup, cfg.Duration)
	floor, err := r.measure(ctx, client, createSpec(cfg, base, "", profilePath(cfg, name, "create-floor")))
	stop()
	client.CloseIdleConnections()
	if err != nil {
		return err
	}
	logf("%s: floor %.0f creates/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, floor.RPS, floor.P50ms, floor.P99ms, floor.Errors, floor.FirstError)

	res := result{Engine: name, Workload: "create", Request: "POST " + accountsPath + " (name + 3 UDFs)",
		Clients: cfg.CreateClients, Linkd: api, Floor: &floor}
	if floor.RPS > 0 {
		res.Ratio = api.RPS / floor.RPS
	}
	res.Target = "≥ 0.7 × floor"
	res.Met = res.Ratio >= 0.7 && api.Errors == 0 && floor.Errors == 0
	if name == "sqlite" {
		res.Target += ", ≥ 5,000/s"
		res.Met = res.Met && api.RPS >= 5000
	}
	r.rep.Results = append(r.rep.Results, res)
	return nil
}

// reads seeds a tenant and measures three reads over HTTP: GET by id,
// the first list page and a list page deep in the tenant, reached by cursor.
func (r *runner) reads(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	db, err := eng.Open(ctx, "read")
	if err != nil {
		return err
	}
	defer db.Drop()
	r.rep.noteVersion(name, eng.Version(ctx, db))
	bt, err := setupTenant(ctx, db.store)
	if err != nil {
		return err
	}
	n := cfg.Accounts
	deep := n / 10 * 9 // the cursor is the id of this account (1-based): the page starts after it
	logf("%s: seeding %d accounts with 2 UDFs each", name, n)
	t0 := time.Now()
	last := t0
	cursorID, err := eng.Seed(ctx, db, bt.Tenant, n, deep, func(done int) {
		if time.Since(last) > 5*time.Second || done == n {
			last = time.Now()
			logf("%s: seeded %d/%d accounts (%.0f/s)", name, done, n, float64(done)/time.Since(t0).Seconds())
		}
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	seed := seedInfo{Engine: name, Accounts: n, UDFs: 2 * n, Seconds: time.Since(t0).Seconds(), Bytes: eng.Size(ctx, db)}
	seed.AccountsPerSecond = float64(n) / seed.Seconds
	r.rep.Seeds = append(r.rep.Seeds, seed)
	logf("%s: seeded in %.1f s, %.0f MB", name, seed.Seconds, float64(seed.Bytes)/1e6)

	srv := newServer(db.store, bt)
	defer srv.Close()
	base, stop, err := serve(srv.Handler())
	if err != nil {
		return err
	}
	defer stop()
	client := newClient(cfg.ReadClients)
	defer client.CloseIdleConnections()

	cursor := base64.RawURLEncoding.EncodeToString([]byte(cursorID))
	deepPath := accountsPath + "?limit=50&cursor=" + cursor
	if err := checkReads(ctx, client, base, bt.secret, n, deep, deepPath); err != nil {
		return fmt.Errorf("the seeded tenant does not read back as expected: %w", err)
	}

	reads := []struct {
		workload, request, slug string
		path                    func(rng *rand.Rand) string
	}{
		{"GET by id", "GET " + accountsPath + "/{random seeded id}", "get",
			func(rng *rand.Rand) string { return accountsPath + "/" + seedAccountID(rng.IntN(n)) }},
		{"list, first page", "GET " + accountsPath + "?limit=50", "list-first",
			func(*rand.Rand) string { return accountsPath + "?limit=50" }},
		{fmt.Sprintf("list, page after row %d", deep), "GET " + accountsPath + "?limit=50&cursor=…", "list-deep",
			func(*rand.Rand) string { return deepPath }},
	}
	for _, rd := range reads {
		logf("%s: %s: %d clients, %s warm-up + %s", name, rd.workload, cfg.ReadClients, cfg.ReadWarmup, cfg.ReadDuration)
		s, err := r.measure(ctx, client, loadSpec{
			Clients: cfg.ReadClients, Warmup: cfg.ReadWarmup, Duration: cfg.ReadDuration, Profile: profilePath(cfg, name, rd.slug),
			Request: func(_, c, seq int, rng *rand.Rand) (*http.Request, error) {
				req, err := http.NewRequest(http.MethodGet, base+rd.path(rng), nil)
				if err == nil {
					req.Header.Set("x-api-key", bt.secret)
				}
				return req, err
			},
		})
		if err != nil {
			return err
		}
		logf("%s: %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, rd.workload, s.RPS, s.P50ms, s.P99ms, s.Errors, s.FirstError)
		r.rep.Results = append(r.rep.Results, result{Engine: name, Workload: rd.workload, Request: rd.request, Clients: cfg.ReadClients,
			Linkd: s, Target: "p99 < 5 ms", Met: s.P99ms < 5 && s.Errors == 0})
	}
	return nil
}

// checkReads makes sure the reads measure what they claim: the list counts
// every seeded account, the deep page starts right after the cursor's
// account, and accounts come back with their UDFs.
func checkReads(ctx context.Context, client *http.Client, base, secret string, n, deep int, deepPath string) error {
	type page struct {
		Docs []struct {
			AccountID string            `json:"account_id"`
			UDF       []json.RawMessage `json:"udf"`
		} `json:"docs"`
		TotalDocs   int64 `json:"totalDocs"`
		HasNextPage bool  `json:"hasNextPage"`
	}
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("x-api-key", secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d: %.300s", path, resp.StatusCode, b)
		}
		return json.Unmarshal(b, v)
	}
	var first, deepPage page
	if err := get(accountsPath+"?limit=50", &first); err != nil {
		return err
	}
	if first.TotalDocs != int64(n) || len(first.Docs) != 50 || first.Docs[0].AccountID != seedAccountID(0) || len(first.Docs[0].UDF) != 2 {
		return fmt.Errorf("first page: totalDocs %d, %d docs, first %+v", first.TotalDocs, len(first.Docs), first.Docs[:min(1, len(first.Docs))])
	}
	if err := get(deepPath, &deepPage); err != nil {
		return err
	}
	want := min(50, n-deep)
	if len(deepPage.Docs) != want || deepPage.Docs[0].AccountID != seedAccountID(deep) || len(deepPage.Docs[0].UDF) != 2 {
		return fmt.Errorf("deep page: %d docs, first %+v; want %d docs from %s", len(deepPage.Docs), deepPage.Docs[:min(1, len(deepPage.Docs))], want, seedAccountID(deep))
	}
	var one struct {
		AccountID string            `json:"account_id"`
		UDF       []json.RawMessage `json:"udf"`
	}
	if err := get(accountsPath+"/"+seedAccountID(n-1), &one); err != nil {
		return err
	}
	if one.AccountID != seedAccountID(n-1) || len(one.UDF) != 2 {
		return fmt.Errorf("GET by id: %+v", one)
	}
	return nil
}
