// Command bench measures linkd over HTTP against a floor, on SQLite and on
// PostgreSQL, in one run:
//
//  1. creates per second from 64 keep-alive clients, beside the floor: a bare
//     handler that decodes the same body and does the one INSERT into the
//     same table of the same engine;
//  2. GET by id, the first list page and a list page 900,000 rows deep (by
//     cursor) on a tenant of 1,000,000 accounts;
//
// and prints a Markdown table, also written with the raw figures as JSON
// into -out. docs/BENCHMARKS.md explains the method and the figures.
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
	"strings"
	"syscall"
	"time"
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
	Out           string        `json:"-"`
	Dir           string        `json:"-"`
	PostgresURL   string        `json:"-"`
	CPUProfile    string        `json:"-"`
	QuietWait     time.Duration `json:"quiet_wait_ns"`
	Attempts      int           `json:"attempts"`
}

func (c *config) has(phase string) bool {
	for _, p := range c.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engines := fs.String("engines", "sqlite,postgres", "engines to measure, comma-separated: sqlite, postgres")
	phases := fs.String("phases", "create,read", "what to measure, comma-separated: create (creates vs floor), read (reads on a seeded tenant)")
	fs.IntVar(&c.Accounts, "accounts", 1_000_000, "accounts seeded for the read phase")
	fs.IntVar(&c.CreateClients, "clients", 64, "concurrent clients of the create phase")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured warm-up of each create run")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time of each create run")
	fs.IntVar(&c.ReadClients, "read-clients", 8, "concurrent clients of the read phase")
	fs.DurationVar(&c.ReadWarmup, "read-warmup", time.Second, "unmeasured warm-up of each read run")
	fs.DurationVar(&c.ReadDuration, "read-duration", 5*time.Second, "measured time of each read run")
	fs.StringVar(&c.Out, "out", "bench/results", "directory for results.json and results.md (empty: none)")
	fs.StringVar(&c.Dir, "dir", "", "directory for the SQLite databases (default: the system temp dir)")
	fs.StringVar(&c.PostgresURL, "postgres-url", getenv("LINKD_BENCH_POSTGRES_URL"),
		"PostgreSQL server to create the benchmark databases on, a postgres:// URL of a role that may CREATE DATABASE (LINKD_BENCH_POSTGRES_URL)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "directory for a CPU profile of each measured window (load generator included; of the last attempt)")
	fs.DurationVar(&c.QuietWait, "quiet-wait", 20*time.Second, "before each run, wait up to this long for other processes to leave the CPUs idle (0: do not wait)")
	fs.IntVar(&c.Attempts, "attempts", 2, "runs of each measurement at most, repeated while other processes took CPU time during it; the least disturbed is kept")
	if err := fs.Parse(args); err != nil {
		return nil, err
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
		if p != "create" && p != "read" {
			return nil, fmt.Errorf("unknown phase %q: create or read", p)
		}
	}
	if c.Accounts < 100 && c.has("read") {
		return nil, errors.New("-accounts must be at least 100")
	}
	if c.CreateClients < 1 || c.ReadClients < 1 {
		return nil, errors.New("-clients and -read-clients must be at least 1")
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

// run is the whole program, its environment passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		if err := os.MkdirAll(cfg.CPUProfile, 0o755); err != nil {
			return err
		}
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	rep := &report{Started: time.Now().UTC(), Machine: describeMachine(), Config: cfg}
	logf("machine: %s, %d CPUs, %s", rep.Machine.CPU, rep.Machine.CPUs, rep.Machine.Go)
	var b [4]byte
	rand.Read(b[:])
	r := &runner{cfg: cfg, rep: rep, logf: logf, meter: cpuMeter{pgPrefix: "linkd_bench_" + hex.EncodeToString(b[:])}}
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

// engine runs the phases on one engine and drops its databases, even
// when a phase fails or the run is interrupted.
func (r *runner) engine(ctx context.Context, name string) (err error) {
	var eng engine
	switch name {
	case "sqlite":
		eng, err = newSQLiteEngine(r.cfg.Dir)
	case "postgres":
		eng, err = newPostgresEngine(ctx, r.cfg.PostgresURL, r.meter.pgPrefix)
	}
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
	return nil
}
