// Command imports measures linkd's bulk CSV import and export, on SQLite
// and on PostgreSQL, in one run, on one generated file (1,000,000 rows of
// linked_account_id,name,udf.plan,udf.seats,udf.region by default):
//
//  1. the import through the real path — csvio.Importer.Upload of the file,
//     then csvio.Runner.RunOne of the queued job on a fresh store — beside
//     the floor: the engine's own bulk loader (the sqlite3 CLI's .import,
//     psql's \copy) putting the same file into a bare table with a unique
//     index on the id;
//  2. the growth of this process's resident memory during upload and run
//     (and, with -big, for a file of about 1 GiB on SQLite);
//  3. csvio.Export of the imported accounts, to io.Discard and to a file;
//
// and prints a Markdown table, also written with the raw figures as JSON
// into -out. docs/BENCHMARKS-import.md explains the method and the figures.
//
//	LINKD_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable go run ./bench/imports
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
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/vault"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench/imports:", err)
		os.Exit(1)
	}
}

// config is every setting of a run; the defaults are the published run.
type config struct {
	Rows        int64         `json:"rows"`
	Engines     []string      `json:"engines"`
	Runs        int           `json:"runs"`
	Big         bool          `json:"big"`
	BigBytes    int64         `json:"big_bytes"`
	BigRows     int64         `json:"big_rows,omitempty"`
	BigNameLen  int           `json:"big_name_bytes"`
	QuietWait   time.Duration `json:"quiet_wait_ns"`
	Seed        uint64        `json:"seed"`
	IDs         string        `json:"ids"`
	BatchSize   int           `json:"batch_size,omitempty"`
	PGActivity  bool          `json:"pg_activity"`
	Exports     bool          `json:"exports"`
	GOGC        string        `json:"gogc"`
	Out         string        `json:"-"`
	Dir         string        `json:"-"`
	PostgresURL string        `json:"-"`
	CPUProfile  string        `json:"-"`
	SQLite3     string        `json:"-"`
	Psql        string        `json:"-"`
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("imports", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Int64Var(&c.Rows, "rows", 1_000_000, "rows of the generated file")
	engines := fs.String("engines", "sqlite,postgres", "engines to measure, comma-separated: sqlite, postgres")
	fs.IntVar(&c.Runs, "runs", 2, "runs of each import, floor and export; the fastest is reported")
	fs.BoolVar(&c.Big, "big", false, "also upload and import one file of about -big-bytes on SQLite, for its memory use (several minutes)")
	fs.Int64Var(&c.BigBytes, "big-bytes", csvio.DefaultMaxBytes, "size of the -big file: as many rows as fit (at most the server's default upload limit)")
	fs.Int64Var(&c.BigRows, "big-rows", 0, "rows of the -big file instead (0: as many as fit in -big-bytes)")
	fs.IntVar(&c.BigNameLen, "big-name-bytes", 240, "lengthen the names of the -big file to about this many bytes (at most 255), so that it reaches -big-bytes with fewer rows (0: the short names of the main file)")
	fs.DurationVar(&c.QuietWait, "quiet-wait", 30*time.Second, "before each measured window, wait up to this long for other processes to leave the CPUs idle (0: do not wait)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the generated file")
	fs.StringVar(&c.IDs, "ids", "random", "order of the generated ids: random (as most real files) or sorted (the best case for the unique index)")
	fs.IntVar(&c.BatchSize, "batch", 0, "rows per batch of the import job (0: csvio.DefaultBatchSize); for experiments")
	fs.BoolVar(&c.Exports, "exports", true, "measure the exports too")
	fs.BoolVar(&c.PGActivity, "pg-activity", false, "sample pg_stat_activity every 20 ms during each PostgreSQL job run, to see where the server's time goes")
	fs.StringVar(&c.Out, "out", "bench/results/imports", "directory for results.json and results.md (empty: none)")
	fs.StringVar(&c.Dir, "dir", "", "directory for the generated files and SQLite databases (default: the system temp dir)")
	fs.StringVar(&c.PostgresURL, "postgres", getenv("LINKD_BENCH_POSTGRES_URL"),
		"PostgreSQL server to create the benchmark databases on, a postgres:// URL of a role that may CREATE DATABASE (LINKD_BENCH_POSTGRES_URL)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "directory for CPU profiles of this process: import-<engine>.prof (upload + run) and export-<engine>.prof, of the last run")
	fs.StringVar(&c.SQLite3, "sqlite3", "sqlite3", "the sqlite3 command line shell, for the SQLite floor")
	fs.StringVar(&c.Psql, "psql", "psql", "psql, for the PostgreSQL floor")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, e := range strings.Split(*engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.Engines = append(c.Engines, e)
		}
	}
	for _, e := range c.Engines {
		switch e {
		case "sqlite":
		case "postgres":
			if c.PostgresURL == "" {
				return nil, errors.New("postgres needs a server: set LINKD_BENCH_POSTGRES_URL or -postgres (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or run -engines sqlite")
			}
		default:
			return nil, fmt.Errorf("unknown engine %q: sqlite or postgres", e)
		}
	}
	if c.IDs != "random" && c.IDs != "sorted" {
		return nil, fmt.Errorf("-ids must be random or sorted, not %q", c.IDs)
	}
	if c.Rows < 1 || c.Runs < 1 {
		return nil, errors.New("-rows and -runs must be at least 1")
	}
	if c.Big && c.BigBytes > csvio.DefaultMaxBytes {
		return nil, fmt.Errorf("-big-bytes must be at most %d, the upload limit", csvio.DefaultMaxBytes)
	}
	return c, nil
}

// engine is one database under test: linkd's store on it, and its floor.
type engine interface {
	Name() string
	// Open makes a fresh, migrated store; drop closes and deletes it.
	Open(ctx context.Context, label string) (store linkd.Store, drop func() error, err error)
	Version(ctx context.Context, s linkd.Store) string
	FloorVersion(ctx context.Context) string
	// Floor prepares a fresh bare table and returns the command to time,
	// a check of what it loaded, and a clean-up.
	Floor(ctx context.Context, file, label string, rows int64) (cmd *exec.Cmd, check, cleanup func() error, err error)
	Close(ctx context.Context) error
}

// bench is one run's state.
type bench struct {
	cfg    *config
	meter  *cpuMeter
	dir    string
	stderr io.Writer
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	// As linkd serve does (cmd/linkd/serve.go), so that the import runs with
	// the collector settings it has in production.
	cfg.GOGC = getenv("GOGC")
	if cfg.GOGC == "" {
		debug.SetGCPercent(400)
		cfg.GOGC = "400 (as linkd serve)"
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	prefix := "linkd_bench_import_" + hex.EncodeToString(rnd[:])
	dir, err := os.MkdirTemp(cfg.Dir, "linkd-bench-imports-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if strings.ContainsAny(dir, `"'\`) {
		return fmt.Errorf("the temporary directory %q has a quote or backslash, which the floor commands cannot take", dir)
	}
	if cfg.CPUProfile != "" {
		if err := os.MkdirAll(cfg.CPUProfile, 0o755); err != nil {
			return err
		}
	}
	b := &bench{cfg: cfg, meter: &cpuMeter{pgPrefix: prefix}, dir: dir, stderr: stderr}
	rep := &report{Config: cfg, Machine: machineInfo(), Started: time.Now().UTC()}

	file := filepath.Join(dir, "accounts.csv")
	if len(cfg.Engines) > 0 {
		t0 := time.Now()
		rows, size, err := genFile(file, cfg.Rows, 0, genOptions{seed: cfg.Seed, sorted: cfg.IDs == "sorted"})
		if err != nil {
			return err
		}
		rep.File = fileInfo{Rows: rows, Bytes: size, Columns: strings.TrimSpace(header)}
		b.logf("generated %s: %d rows, %.1f MiB in %.1fs", file, rows, float64(size)/(1<<20), time.Since(t0).Seconds())
	}

	for _, name := range cfg.Engines {
		var e engine
		switch name {
		case "sqlite":
			e = &sqliteEngine{dir: dir, cli: cfg.SQLite3}
		case "postgres":
			pe, err := newPostgresEngine(ctx, cfg.PostgresURL, prefix, cfg.Psql)
			if err != nil {
				return err
			}
			e = pe
		}
		res, err := b.measureEngine(ctx, e, file, rep.File)
		if cerr := e.Close(ctx); cerr != nil {
			b.logf("%s: clean-up: %v", name, cerr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Engines = append(rep.Engines, res)
	}
	if cfg.Big {
		res, err := b.measureBig(ctx)
		if err != nil {
			return fmt.Errorf("big file: %w", err)
		}
		rep.Big = res
	}
	rep.Finished = time.Now().UTC()
	return rep.write(cfg.Out, stdout)
}

// measureEngine runs the imports and floors in turn, -runs times, then the
// exports of the last import's accounts.
func (b *bench) measureEngine(ctx context.Context, e engine, file string, fi fileInfo) (*engineResult, error) {
	res := &engineResult{Engine: e.Name(), FloorVersion: e.FloorVersion(ctx)}
	var last *imported
	defer func() {
		if last != nil {
			last.drop()
		}
	}()
	for i := 1; i <= b.cfg.Runs; i++ {
		if last != nil {
			if err := last.drop(); err != nil {
				return nil, err
			}
			last = nil
		}
		profile := ""
		if b.cfg.CPUProfile != "" && i == b.cfg.Runs {
			profile = filepath.Join(b.cfg.CPUProfile, "import-"+e.Name()+".prof")
		}
		im, err := b.importOnce(ctx, e, file, fi, fmt.Sprintf("run%d", i), profile)
		if err != nil {
			return nil, err
		}
		last = im
		res.Version = e.Version(ctx, im.store)
		res.Imports = append(res.Imports, im.run)
		b.logf("%s import %d: %s", e.Name(), i, im.run)

		fr, err := b.floorOnce(ctx, e, file, fi.Rows, fmt.Sprintf("floor%d", i))
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		res.Floors = append(res.Floors, fr)
		b.logf("%s floor %d: %s", e.Name(), i, fr)
	}
	for i := 1; i <= b.cfg.Runs && b.cfg.Exports; i++ {
		profile := ""
		if b.cfg.CPUProfile != "" && i == b.cfg.Runs {
			profile = filepath.Join(b.cfg.CPUProfile, "export-"+e.Name()+".prof")
		}
		er, err := b.exportOnce(ctx, e, last, "", profile)
		if err != nil {
			return nil, err
		}
		res.ExportsDiscard = append(res.ExportsDiscard, er)
		b.logf("%s export to io.Discard %d: %s", e.Name(), i, er)
		er, err = b.exportOnce(ctx, e, last, filepath.Join(b.dir, "export.csv"), "")
		if err != nil {
			return nil, err
		}
		res.ExportsFile = append(res.ExportsFile, er)
		b.logf("%s export to a file %d: %s", e.Name(), i, er)
	}
	res.summarize()
	return res, nil
}

// measureBig uploads and imports one file of about -big-bytes on SQLite,
// for its memory use.
func (b *bench) measureBig(ctx context.Context) (*bigResult, error) {
	file := filepath.Join(b.dir, "big.csv")
	defer os.Remove(file)
	t0 := time.Now()
	max := b.cfg.BigBytes
	if b.cfg.BigRows > 0 {
		max = csvio.DefaultMaxBytes
	}
	rows, size, err := genFile(file, b.cfg.BigRows, max, genOptions{seed: b.cfg.Seed + 1, sorted: b.cfg.IDs == "sorted", nameLen: b.cfg.BigNameLen})
	if err != nil {
		return nil, err
	}
	fi := fileInfo{Rows: rows, Bytes: size, Columns: strings.TrimSpace(header)}
	b.logf("generated %s: %d rows, %.1f MiB in %.1fs", file, rows, float64(size)/(1<<20), time.Since(t0).Seconds())
	e := &sqliteEngine{dir: b.dir, cli: b.cfg.SQLite3}
	profile := ""
	if b.cfg.CPUProfile != "" {
		profile = filepath.Join(b.cfg.CPUProfile, "import-sqlite-big.prof")
	}
	im, err := b.importOnce(ctx, e, file, fi, "big", profile)
	if err != nil {
		return nil, err
	}
	b.logf("sqlite big import: %s", im.run)
	res := &bigResult{Engine: "sqlite", File: fi, Import: im.run}
	if err := im.drop(); err != nil {
		return nil, err
	}
	return res, nil
}

// imported is an import that ran, with its store still open.
type imported struct {
	store  linkd.Store
	tenant linkd.Tenant
	run    importRun
	drop   func() error
}

// importOnce uploads file into a fresh store and runs the job to its end,
// measuring each half.
func (b *bench) importOnce(ctx context.Context, e engine, file string, fi fileInfo, label, profile string) (_ *imported, err error) {
	raw, drop, err := e.Open(ctx, label)
	if err != nil {
		return nil, err
	}
	store := &timedStore{Store: raw}
	defer func() {
		if err != nil {
			drop()
		}
	}()
	org := &linkd.Org{ID: linkd.NewID(), Name: "bench-imports", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateOrg(ctx, org); err != nil {
		return nil, err
	}
	t := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		return nil, err
	}
	im := &csvio.Importer{Store: store, Accounts: &linkd.AccountService{Store: store, Keys: keys}}
	runner := &csvio.Runner{Importer: im, Owner: "bench-imports", BatchSize: b.cfg.BatchSize}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	b.prepare(ctx, e)
	stopProfile := startProfile(profile)
	rss := startRSS()
	s0 := b.meter.sample()
	t0 := time.Now()
	job, err := im.Upload(ctx, csvio.UploadRequest{Tenant: t, Actor: "bench", FileName: filepath.Base(file), Mode: linkd.ImportCreate}, f)
	t1 := time.Now()
	s1 := b.meter.sample()
	if err != nil {
		stopProfile()
		rss.end()
		return nil, fmt.Errorf("upload: %w", err)
	}
	stopActivity := func() map[string]int { return nil }
	if pe, ok := e.(*postgresEngine); ok && b.cfg.PGActivity {
		stopActivity = pe.watchActivity(ctx, pe.prefix+"_"+label, 20*time.Millisecond)
	}
	stopProgress := watchProgress(ctx, raw, t, job.ID, 10*time.Second, b.logf)
	ran, err := runner.RunOne(ctx)
	t2 := time.Now()
	s2 := b.meter.sample()
	mem := rss.end()
	stopProfile()
	progress := stopProgress()
	activity := stopActivity()
	if err != nil || !ran {
		return nil, fmt.Errorf("run: ran %v: %w", ran, err)
	}
	job, err = store.ImportJob(ctx, t, job.ID)
	if err != nil {
		return nil, err
	}
	if job.State != linkd.ImportSucceeded || job.Created != fi.Rows || job.RowsProcessed != fi.Rows || job.Failed != 0 {
		return nil, fmt.Errorf("the job did not import every row: state %s, %d of %d rows processed, %d created, %d failed (%s)",
			job.State, job.RowsProcessed, fi.Rows, job.Created, job.Failed, job.Error)
	}
	r := importRun{Rows: fi.Rows, Bytes: fi.Bytes, UploadSeconds: t1.Sub(t0).Seconds(), RunSeconds: t2.Sub(t1).Seconds(),
		UploadCPU: s1.since(s0, 0, 0), RunCPU: s2.since(s1, 0, 0), TotalCPU: s2.since(s0, 0, 0), RSS: mem,
		Store: store.times(), Progress: progress, PGActivity: activity}
	return &imported{store: raw, tenant: t, run: r, drop: drop}, nil
}

// floorOnce times the engine's own loader on the same file.
func (b *bench) floorOnce(ctx context.Context, e engine, file string, rows int64, label string) (floorRun, error) {
	cmd, check, cleanup, err := e.Floor(ctx, file, label, rows)
	if err != nil {
		return floorRun{}, err
	}
	defer cleanup()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	b.meter.waitQuiet(ctx, b.cfg.QuietWait, b.logf)
	s0 := b.meter.sample()
	t0 := time.Now()
	err = cmd.Run()
	t1 := time.Now()
	if err != nil {
		return floorRun{}, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var childWrite int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		childWrite = ru.Oublock * 512 // blocks written to storage, in 512-byte units
	}
	fr := floorRun{Command: strings.Join(cmd.Args, " "), Rows: rows, Seconds: t1.Sub(t0).Seconds(), CPU: b.meter.sample().since(s0, child, childWrite)}
	if strings.TrimSpace(out.String()) != "" {
		return floorRun{}, fmt.Errorf("%s: unexpected output: %s", fr.Command, out)
	}
	return fr, check()
}

// exportOnce exports the imported accounts to io.Discard, or to a new file
// at path.
func (b *bench) exportOnce(ctx context.Context, e engine, im *imported, path, profile string) (exportRun, error) {
	var w io.Writer = io.Discard
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return exportRun{}, err
		}
		defer os.Remove(path)
		defer f.Close()
		w = f
	}
	b.prepare(ctx, e)
	stopProfile := startProfile(profile)
	s0 := b.meter.sample()
	t0 := time.Now()
	n, err := csvio.Export(ctx, im.store, im.tenant, linkd.AccountFilter{}, w)
	if err == nil && f != nil {
		err = f.Close()
	}
	t1 := time.Now()
	cpu := b.meter.sample().since(s0, 0, 0)
	stopProfile()
	if err != nil {
		return exportRun{}, fmt.Errorf("export: %w", err)
	}
	if n != im.run.Rows {
		return exportRun{}, fmt.Errorf("export wrote %d accounts, want %d", n, im.run.Rows)
	}
	r := exportRun{Rows: n, Seconds: t1.Sub(t0).Seconds(), CPU: cpu}
	if f != nil {
		st, err := os.Stat(path)
		if err != nil {
			return exportRun{}, err
		}
		r.Bytes = st.Size()
	}
	return r, nil
}

// prepare gets the machine ready for a measured window: PostgreSQL writes
// out what the previous window left dirty, then the benchmark waits for the
// other processes to be quiet.
func (b *bench) prepare(ctx context.Context, e engine) {
	if pe, ok := e.(*postgresEngine); ok {
		pe.checkpoint(ctx)
	}
	b.meter.waitQuiet(ctx, b.cfg.QuietWait, b.logf)
}

// startProfile starts a CPU profile into path ("" for none) and returns
// what stops it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// machineInfo describes where the run happened.
func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = float64(kb) / (1 << 20)
		}
	}
	return m
}
