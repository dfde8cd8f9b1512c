// Command bench measures linkd against floors, on SQLite and on PostgreSQL,
// in one run, in six phases:
//
//  1. create: creates per second over HTTP from 64 keep-alive clients,
//     beside the floor: a bare handler that decodes the same body and does
//     the one INSERT into the same table of the same engine;
//  2. read: over HTTP, on a tenant of 1,000,000 accounts (1 % of them
//     connected to an app), GET by id, the first list page, a list page
//     900,000 rows deep (by cursor), the list filtered by connected app and
//     a name search;
//  3. import: the bulk CSV import of a generated file of 1,000,000 rows,
//     upload and job run, beside the engine's own bulk loader (the sqlite3
//     CLI's .import, psql's \copy) on the same file, the memory it takes,
//     and the CSV export of the imported accounts;
//  4. proxy: a call to an app's API through linkd's proxy beside the same
//     call straight to the app (a loopback upstream answering in 20 ms),
//     and 1 GiB streamed down and up through it, with the memory it takes;
//  5. webhooks: creates with no endpoint and with one subscribed endpoint,
//     delivery lag to one endpoint and to many, and (-webhooks-import) the
//     import with an endpoint (bench/webhooks.go);
//  6. workflows: events accepted/s beside the store's floor, runs of a
//     one-step http workflow completed/s beside the app called directly,
//     and event→first-step latency (bench/workflows.go);
//  7. scale: tenants of -scale-sizes accounts seeded through the store's
//     bulk path, and at each size GET, list pages, search and UDF filters
//     without totals, and what the totals cost (bench/scale.go);
//
// and prints Markdown tables, also written with the raw figures as JSON
// into -out. docs/BENCHMARKS.md and docs/BENCHMARKS-import.md explain the
// method and the figures.
//
//	LINKD_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable go run ./bench
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/linkd-dev/linkd/csvio"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// allPhases are the phases in the order they run.
var allPhases = []string{"create", "read", "import", "proxy", "webhooks", "workflows", "scale"}

// config is every setting of a run; the defaults are the published run.
type config struct {
	Engines       []string      `json:"engines"`
	Phases        []string      `json:"phases"`
	Accounts      int           `json:"accounts"`
	CreateClients int           `json:"create_clients"`
	Warmup        time.Duration `json:"create_warmup_ns"`
	Duration      time.Duration `json:"create_duration_ns"`
	ReadClients   int           `json:"read_clients"`
	ReadWarmup    time.Duration `json:"read_warmup_ns"`
	ReadDuration  time.Duration `json:"read_duration_ns"`
	QuietWait     time.Duration `json:"quiet_wait_ns"`
	Attempts      int           `json:"attempts"`
	GOGC          string        `json:"gogc"`
	// The import phase's settings.
	Rows       int64  `json:"import_rows"`
	Runs       int    `json:"import_runs"`
	Big        bool   `json:"import_big"`
	BigBytes   int64  `json:"import_big_bytes"`
	BigRows    int64  `json:"import_big_rows,omitempty"`
	BigNameLen int    `json:"import_big_name_bytes"`
	FileSeed   uint64 `json:"import_seed"`
	IDs        string `json:"import_ids"`
	BatchSize  int    `json:"import_batch_size,omitempty"`
	Exports    bool   `json:"import_exports"`
	PGActivity bool   `json:"import_pg_activity"`
	// The proxy phase's settings.
	ProxyClients     int           `json:"proxy_clients"`
	ProxyWarmup      time.Duration `json:"proxy_warmup_ns"`
	ProxyDuration    time.Duration `json:"proxy_duration_ns"`
	ProxyStreamBytes int64         `json:"proxy_stream_bytes"`
	// The webhooks phase's settings.
	WebhooksWarmup      time.Duration `json:"webhooks_warmup_ns"`
	WebhooksDuration    time.Duration `json:"webhooks_duration_ns"`
	WebhooksRate        float64       `json:"webhooks_rate"`
	WebhooksFanout      int           `json:"webhooks_fanout"`
	WebhooksFanoutRate  float64       `json:"webhooks_fanout_rate"`
	WebhooksLagDuration time.Duration `json:"webhooks_lag_duration_ns"`
	WebhooksDrain       time.Duration `json:"webhooks_drain_ns"`
	WebhooksImport      bool          `json:"webhooks_import"`
	WebhooksTenantCap   int           `json:"webhooks_tenant_cap,omitempty"`
	// The workflows phase's settings (bench/workflows.go).
	WorkflowsClients     int           `json:"workflows_clients"`
	WorkflowsWarmup      time.Duration `json:"workflows_warmup_ns"`
	WorkflowsDuration    time.Duration `json:"workflows_duration_ns"`
	WorkflowsBurst       int           `json:"workflows_burst"`
	WorkflowsRate        float64       `json:"workflows_rate"`
	WorkflowsLagDuration time.Duration `json:"workflows_lag_duration_ns"`
	// The scale phase's settings.
	ScaleSizes []int  `json:"scale_sizes"`
	ScaleAll   bool   `json:"scale_all_engines"`
	ScaleCache string `json:"-"`

	Out         string `json:"-"`
	Dir         string `json:"-"`
	PostgresURL string `json:"-"`
	CPUProfile  string `json:"-"`
	SQLite3     string `json:"-"`
	Psql        string `json:"-"`
}

func (c *config) has(phase string) bool { return slices.Contains(c.Phases, phase) }

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engines := fs.String("engines", "sqlite,postgres", "engines to measure, comma-separated: sqlite, postgres")
	phases := fs.String("phases", strings.Join(allPhases, ","), "what to measure, comma-separated: create (creates vs floor), read (reads on a seeded tenant), import (CSV import vs the engine's loader, and export), proxy (calls through the proxy vs direct, and streaming)")
	fs.DurationVar(&c.QuietWait, "quiet-wait", 20*time.Second, "before each measured window, wait up to this long for other processes to leave the CPUs idle (0: do not wait)")
	fs.StringVar(&c.Out, "out", "bench/results", "directory for results.json and results.md (empty: none)")
	fs.StringVar(&c.Dir, "dir", "", "directory for the SQLite databases and the generated CSV files (default: the system temp dir)")
	fs.StringVar(&c.PostgresURL, "postgres-url", getenv("LINKD_BENCH_POSTGRES_URL"),
		"PostgreSQL server to create the benchmark databases on, a postgres:// URL of a role that may CREATE DATABASE (LINKD_BENCH_POSTGRES_URL)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "directory for CPU profiles of this process: one per measured window of the create, read, scale and proxy phases (load generator included; of the last attempt), import-<engine>.prof and export-<engine>.prof (of the last run)")

	fs.IntVar(&c.Accounts, "accounts", 1_000_000, "read: accounts seeded")
	fs.IntVar(&c.CreateClients, "clients", 64, "create: concurrent clients")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "create: unmeasured warm-up of each run")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "create: measured time of each run")
	fs.IntVar(&c.ReadClients, "read-clients", 8, "read: concurrent clients")
	fs.DurationVar(&c.ReadWarmup, "read-warmup", time.Second, "read: unmeasured warm-up of each run")
	fs.DurationVar(&c.ReadDuration, "read-duration", 5*time.Second, "read: measured time of each run")
	fs.IntVar(&c.Attempts, "attempts", 2, "create, read, proxy: runs of each measurement at most, repeated while other processes took CPU time during it; the least disturbed is kept")

	fs.Int64Var(&c.Rows, "rows", 1_000_000, "import: rows of the generated file")
	fs.IntVar(&c.Runs, "runs", 2, "import: runs of each import, floor and export; the fastest is reported")
	fs.BoolVar(&c.Big, "big", false, "import: also upload and import one file of about -big-bytes on SQLite, for its memory use (several minutes)")
	fs.Int64Var(&c.BigBytes, "big-bytes", csvio.DefaultMaxBytes, "import: size of the -big file: as many rows as fit (at most the server's default upload limit)")
	fs.Int64Var(&c.BigRows, "big-rows", 0, "import: rows of the -big file instead (0: as many as fit in -big-bytes)")
	fs.IntVar(&c.BigNameLen, "big-name-bytes", 240, "import: lengthen the names of the -big file to about this many bytes (at most 255), so that it reaches -big-bytes with fewer rows (0: the short names of the main file)")
	fs.Uint64Var(&c.FileSeed, "seed", 1, "import: seed of the generated file")
	fs.StringVar(&c.IDs, "ids", "random", "import: order of the generated ids: random (as most real files) or sorted (the best case for the unique index)")
	fs.IntVar(&c.BatchSize, "batch", 0, "import: rows per batch of the import job (0: csvio.DefaultBatchSize); for experiments")
	fs.BoolVar(&c.Exports, "exports", true, "import: measure the exports too")
	fs.BoolVar(&c.PGActivity, "pg-activity", false, "import: sample pg_stat_activity every 20 ms during each PostgreSQL job run, to see where the server's time goes")
	fs.StringVar(&c.SQLite3, "sqlite3", "sqlite3", "import: the sqlite3 command line shell, for the SQLite floor")
	fs.StringVar(&c.Psql, "psql", "psql", "import: psql, for the PostgreSQL floor")
	fs.IntVar(&c.ProxyClients, "proxy-clients", 32, "proxy: concurrent clients")
	fs.DurationVar(&c.ProxyWarmup, "proxy-warmup", 2*time.Second, "proxy: unmeasured warm-up of each run")
	fs.DurationVar(&c.ProxyDuration, "proxy-duration", 10*time.Second, "proxy: measured time of each run")
	fs.Int64Var(&c.ProxyStreamBytes, "proxy-stream-bytes", 1<<30, "proxy: bytes streamed down and up, direct and through linkd (0: no streaming)")
	fs.DurationVar(&c.WebhooksWarmup, "webhooks-warmup", time.Second, "webhooks: unmeasured warm-up of each create run")
	fs.DurationVar(&c.WebhooksDuration, "webhooks-duration", 5*time.Second, "webhooks: measured time of each create run (no endpoint, one endpoint; -clients clients)")
	fs.Float64Var(&c.WebhooksRate, "webhooks-rate", 500, "webhooks: creates per second, paced, for the delivery lag to one endpoint (0: skip)")
	fs.IntVar(&c.WebhooksFanout, "webhooks-fanout", 1000, "webhooks: endpoints, each subscribed to every event, for the fan-out lag run (0: skip)")
	fs.Float64Var(&c.WebhooksFanoutRate, "webhooks-fanout-rate", 2, "webhooks: creates per second, paced, for the fan-out lag run")
	fs.DurationVar(&c.WebhooksLagDuration, "webhooks-lag-duration", 5*time.Second, "webhooks: how long each lag run creates accounts")
	fs.DurationVar(&c.WebhooksDrain, "webhooks-drain", time.Minute, "webhooks: how long a lag run waits, after its last create, for the deliveries still due")
	fs.BoolVar(&c.WebhooksImport, "webhooks-import", false, "webhooks: also import the import phase's file (-rows) without and with an endpoint subscribed to Linked Account Created")
	fs.IntVar(&c.WebhooksTenantCap, "webhooks-tenant-cap", 0, "webhooks: an experiment: the sender's deliveries at once per tenant (and in all), instead of serve's 4 (of 16)")
	fs.IntVar(&c.WorkflowsClients, "workflows-clients", 16, "workflows: concurrent clients firing events (and goroutines of the store's floor)")
	fs.DurationVar(&c.WorkflowsWarmup, "workflows-warmup", time.Second, "workflows: unmeasured warm-up of the events run")
	fs.DurationVar(&c.WorkflowsDuration, "workflows-duration", 5*time.Second, "workflows: measured time of the events run and of its floor")
	fs.IntVar(&c.WorkflowsBurst, "workflows-burst", 2000, "workflows: runs queued, then completed by one runner")
	fs.Float64Var(&c.WorkflowsRate, "workflows-rate", 50, "workflows: events per second, paced, for the event→first-step latency")
	fs.DurationVar(&c.WorkflowsLagDuration, "workflows-lag-duration", 5*time.Second, "workflows: how long the latency run sends events")
	scaleSizes := fs.String("scale-sizes", "10000,1000000", "scale: tenant sizes, comma-separated (add 10000000 for the 10M point; above 1M only on SQLite unless -scale-all)")
	fs.BoolVar(&c.ScaleAll, "scale-all", false, "scale: measure sizes above 1M on PostgreSQL too")
	fs.StringVar(&c.ScaleCache, "scale-cache", "", "scale: directory that keeps the seeded SQLite databases, reused by later runs with the same -seed (seeding 10M takes a while)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, v := range splitList(*scaleSizes) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			return nil, fmt.Errorf("-scale-sizes: %q is not a number of accounts of at least 100", v)
		}
		c.ScaleSizes = append(c.ScaleSizes, n)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.Engines = splitList(*engines)
	c.Phases = splitList(*phases)
	for _, e := range c.Engines {
		switch e {
		case "sqlite":
		case "postgres":
			if c.PostgresURL == "" {
				return nil, errors.New("postgres needs a server: set LINKD_BENCH_POSTGRES_URL or -postgres-url (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or run -engines sqlite")
			}
		default:
			return nil, fmt.Errorf("unknown engine %q: sqlite or postgres", e)
		}
	}
	for _, p := range c.Phases {
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("unknown phase %q: %s", p, strings.Join(allPhases, ", "))
		}
	}
	if c.Accounts < 100 && c.has("read") {
		return nil, errors.New("-accounts must be at least 100")
	}
	if c.CreateClients < 1 || c.ReadClients < 1 || c.ProxyClients < 1 {
		return nil, errors.New("-clients, -read-clients and -proxy-clients must be at least 1")
	}
	if c.WorkflowsClients < 1 || c.WorkflowsBurst < 1 || c.WorkflowsRate <= 0 {
		return nil, errors.New("-workflows-clients and -workflows-burst must be at least 1, -workflows-rate above 0")
	}
	if c.IDs != "random" && c.IDs != "sorted" {
		return nil, fmt.Errorf("-ids must be random or sorted, not %q", c.IDs)
	}
	if c.ProxyStreamBytes < 0 {
		return nil, errors.New("-proxy-stream-bytes must be 0 or more")
	}
	if c.Rows < 1 || c.Runs < 1 {
		return nil, errors.New("-rows and -runs must be at least 1")
	}
	if c.Big && !c.has("import") {
		return nil, errors.New("-big belongs to the import phase: add it to -phases")
	}
	if c.Big && c.BigBytes > csvio.DefaultMaxBytes {
		return nil, fmt.Errorf("-big-bytes must be at most %d, the upload limit", csvio.DefaultMaxBytes)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// runner runs the phases of one benchmark run and collects their figures.
type runner struct {
	cfg   *config
	rep   *report
	logf  func(format string, args ...any)
	meter cpuMeter
	// dir is the run's temporary directory: SQLite databases and the
	// generated CSV files.
	dir string
	// csv is the import phase's generated file, made at its first use.
	csv *csvFile
}

// run is the whole program, its environment passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	// As linkd serve does (cmd/linkd/serve.go), so that the server and the
	// import run with the collector settings they have in production.
	cfg.GOGC = getenv("GOGC")
	if cfg.GOGC == "" {
		debug.SetGCPercent(400)
		cfg.GOGC = "400 (as linkd serve)"
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20) // as linkd serve
	}
	if cfg.CPUProfile != "" {
		if err := os.MkdirAll(cfg.CPUProfile, 0o755); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if strings.ContainsAny(dir, `"'\`) {
		return fmt.Errorf("the temporary directory %q has a quote or backslash, which the import floor commands cannot take", dir)
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	rep := &report{Started: time.Now().UTC(), Machine: describeMachine(), Config: cfg}
	logf("machine: %s, %d CPUs, %s; phases %s", rep.Machine.CPU, rep.Machine.CPUs, rep.Machine.Go, strings.Join(cfg.Phases, ", "))
	var b [4]byte
	rand.Read(b[:])
	r := &runner{cfg: cfg, rep: rep, logf: logf, meter: cpuMeter{pgPrefix: "linkd_bench_" + hex.EncodeToString(b[:])}, dir: dir}
	if cfg.has("import") {
		rep.Imports = &importReport{}
	}
	if cfg.has("create") {
		if err := r.ceiling(ctx); err != nil {
			return err
		}
	}
	for _, name := range cfg.Engines {
		if err := r.engine(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if cfg.has("import") && cfg.Big {
		if err := r.importBig(ctx); err != nil {
			return fmt.Errorf("big file: %w", err)
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if cfg.Out != "" {
		if err := rep.write(cfg.Out, md); err != nil {
			return err
		}
		logf("wrote %s/results.json and %s/results.md", cfg.Out, cfg.Out)
	}
	return nil
}

// openEngine prepares engine name for the run.
func (r *runner) openEngine(ctx context.Context, name string) (engine, error) {
	if name == "postgres" {
		return newPostgresEngine(ctx, r.cfg.PostgresURL, r.meter.pgPrefix, r.cfg.Psql)
	}
	return newSQLiteEngine(r.dir, r.cfg.SQLite3), nil
}

// engine runs the phases on one engine and drops its databases, even
// when a phase fails or the run is interrupted.
func (r *runner) engine(ctx context.Context, name string) (err error) {
	eng, err := r.openEngine(ctx, name)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, eng.Close()) }()
	if r.cfg.has("create") {
		if err := r.creates(ctx, eng); err != nil {
			return err
		}
	}
	if r.cfg.has("read") {
		if err := r.reads(ctx, eng); err != nil {
			return err
		}
	}
	if r.cfg.has("import") {
		if err := r.imports(ctx, eng); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	if r.cfg.has("proxy") {
		if err := r.proxies(ctx, eng); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	if r.cfg.has("webhooks") {
		if err := r.webhooksPhase(ctx, eng); err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
	}
	if r.cfg.has("workflows") {
		if err := r.workflowsPhase(ctx, eng); err != nil {
			return fmt.Errorf("workflows: %w", err)
		}
	}
	if r.cfg.has("scale") {
		if err := r.scale(ctx, eng); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	return nil
}
