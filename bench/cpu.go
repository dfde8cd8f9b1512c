package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// The benchmark shares a small machine with whatever else runs on it, and
// anything else that takes CPU makes the figures wrong. So every measured
// window records how the machine's CPU time was spent (this process, the
// import floor's child process, PostgreSQL's work for the benchmark, and
// everyone else), the load average and the bytes written to storage, and
// each run first waits, for a bounded time, for the rest of the machine to
// be quiet.

// ticksPerSecond is USER_HZ, the unit of /proc CPU times (100 on Linux).
const ticksPerSecond = 100

// cpuMeter samples CPU time. PostgreSQL may serve others on the same
// server, so only its background processes and the backends of the
// benchmark's own databases (named with pgPrefix) count as PostgreSQL's.
type cpuMeter struct {
	pgPrefix string
}

// cpuSample is the CPU time used so far, in ticks: by the whole machine, by
// this process (load generator and server) and by each PostgreSQL process
// that counts.
type cpuSample struct {
	at       time.Time
	busy     int64
	self     int64
	postgres map[string]int64
	// Bytes written to storage (write_bytes of /proc/PID/io) by this
	// process and by the PostgreSQL processes that count.
	selfWrite int64
	pgWrite   map[string]int64
}

// cpuUse is how many cores, on average over a window, each party kept busy.
// Child is the import floor's sqlite3 or psql process, measured by its own
// rusage.
type cpuUse struct {
	Self     float64 `json:"bench_cores"`
	Child    float64 `json:"child_cores"`
	Postgres float64 `json:"postgres_cores"`
	Other    float64 `json:"other_cores"`
	// Load is /proc/loadavg's 1-minute figure at the end of the window.
	Load float64 `json:"load1"`
	// WrittenMiB is what this process, the child and PostgreSQL's
	// processes for the benchmark wrote to storage during the window.
	WrittenMiB float64 `json:"written_mib"`
}

// pgBackground names PostgreSQL's own processes, which serve every database.
var pgBackground = []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher", "stats collector"}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{at: time.Now(), postgres: map[string]int64{}, pgWrite: map[string]int64{}}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		// cpu user nice system idle iowait irq softirq steal …: idle and
		// iowait are not busy, and interrupts are left out because most of
		// them here are the loopback traffic of the benchmark itself, which
		// the kernel does not charge to any process.
		for i, v := range f[1:min(len(f), 9)] {
			if i >= 3 && i <= 6 {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			s.busy += n
		}
	}
	s.self = procTicks("/proc/self/stat")
	s.selfWrite = procWriteBytes("/proc/self/io")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if comm, _ := os.ReadFile(d + "/comm"); string(bytes.TrimSpace(comm)) != "postgres" {
			continue
		}
		cmd, _ := os.ReadFile(d + "/cmdline")
		if m.counts(string(cmd)) {
			s.postgres[d] = procTicks(d + "/stat")
			s.pgWrite[d] = procWriteBytes(d + "/io")
		}
	}
	return s
}

// counts reports whether the PostgreSQL process with this command line
// works for the benchmark.
func (m *cpuMeter) counts(cmdline string) bool {
	if m.pgPrefix != "" && strings.Contains(cmdline, m.pgPrefix) {
		return true
	}
	for _, b := range pgBackground {
		if strings.HasSuffix(strings.TrimRight(cmdline, "\x00 "), b) {
			return true
		}
	}
	return false
}

// procTicks returns utime+stime of the process whose stat file is path.
func procTicks(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses; fields follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// procWriteBytes returns write_bytes of the process whose io file is path
// (0 when it cannot be read).
func procWriteBytes(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// since returns the cores used between a and s; child is the CPU time of a
// child process that ran (and was waited for) in between, childWrite what
// it wrote.
func (s cpuSample) since(a cpuSample, child time.Duration, childWrite int64) cpuUse {
	secs := s.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return cpuUse{}
	}
	var pg int64
	for p, n := range s.postgres {
		pg += n - a.postgres[p] // a process started since a counts whole
	}
	u := cpuUse{
		Self:     float64(s.self-a.self) / ticksPerSecond / secs,
		Child:    child.Seconds() / secs,
		Postgres: float64(pg) / ticksPerSecond / secs,
		Load:     loadAvg(),
	}
	u.Other = max(0, float64(s.busy-a.busy)/ticksPerSecond/secs-u.Self-u.Child-u.Postgres)
	written := s.selfWrite - a.selfWrite + childWrite
	for p, n := range s.pgWrite {
		written += n - a.pgWrite[p]
	}
	u.WrittenMiB = float64(written) / (1 << 20)
	return u
}

// quietThreshold is how many cores other processes may keep busy for the
// machine to count as quiet.
const quietThreshold = 0.15

// waitQuiet waits, up to maxWait, until the processes that are neither this
// one nor PostgreSQL's work for it use less than quietThreshold cores over a
// second.
func (m *cpuMeter) waitQuiet(ctx context.Context, maxWait time.Duration, logf func(string, ...any)) {
	if maxWait <= 0 {
		return
	}
	deadline := time.Now().Add(maxWait)
	said := false
	for {
		a := m.sample()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		u := m.sample().since(a, 0, 0)
		if u.Other < quietThreshold || time.Now().After(deadline) {
			if said || u.Other >= quietThreshold {
				logf("machine: other processes use %.2f cores (load %.2f); going on", u.Other, u.Load)
			}
			return
		}
		if !said {
			logf("machine: other processes use %.2f cores (load %.2f); waiting up to %s for quiet", u.Other, u.Load, maxWait)
			said = true
		}
	}
}

// String gives the cores of the API table's column: bench, PostgreSQL, other.
func (u cpuUse) String() string {
	return fmt.Sprintf("%.2f, %.2f, %.2f", u.Self, u.Postgres, u.Other)
}

// detail gives every figure, for the import phase's log.
func (u cpuUse) detail() string {
	return fmt.Sprintf("self %.2f, child %.2f, postgres %.2f, others %.2f cores; load %.2f; wrote %.0f MiB", u.Self, u.Child, u.Postgres, u.Other, u.Load, u.WrittenMiB)
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// startProfile starts a CPU profile of this process into path ("" for
// none) and returns what stops it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
