package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The benchmark shares a small machine with whatever else runs on it, and
// anything else that takes CPU makes the figures wrong. So every measured
// window records how the machine's CPU time was spent (this process, the
// floor's child process, PostgreSQL's work for the benchmark, and everyone
// else) and the load average, and each run first waits, for a bounded time,
// for the rest of the machine to be quiet.

// ticksPerSecond is USER_HZ, the unit of /proc CPU times (100 on Linux).
const ticksPerSecond = 100

// cpuMeter samples CPU time. PostgreSQL may serve others on the same
// server, so only its background processes and the backends of the
// benchmark's own databases (named with pgPrefix) count as PostgreSQL's.
type cpuMeter struct {
	pgPrefix string
}

// cpuSample is the CPU time used so far, in ticks: by the whole machine, by
// this process and by each PostgreSQL process that counts.
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
// Child is the floor's sqlite3 or psql process, measured by its own rusage.
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
		// cpu user nice system idle iowait irq softirq steal: idle and
		// iowait are not busy; interrupts are charged to no process.
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

func (u cpuUse) String() string {
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

// rssMeter watches this process's resident memory during a window: it
// samples VmRSS every 50 ms and also resets the kernel's own peak (VmHWM,
// through /proc/self/clear_refs) at the start, so that a peak between two
// samples is not missed.
type rssMeter struct {
	base    memSample // at the start
	goBase  uint64    // the Go runtime's memory from the OS at the start
	hwmOK   bool      // the kernel's peak was reset and can be read at the end
	mu      sync.Mutex
	max     memSample // the sample with the largest VmRSS
	samples int
	stop    chan struct{}
	done    chan struct{}
}

// memSample is VmRSS and its parts (anonymous memory: the Go heap and
// SQLite's allocations; file pages: mapped files such as SQLite's -shm),
// in bytes.
type memSample struct {
	rss, anon, file, shmem int64
}

func readMem() memSample {
	f := procStatusFields("VmRSS", "RssAnon", "RssFile", "RssShmem")
	return memSample{f[0], f[1], f[2], f[3]}
}

// rssUse is what an rssMeter saw, in MiB.
type rssUse struct {
	BaseMiB    float64 `json:"base_mib"`
	PeakMiB    float64 `json:"peak_mib"`
	GrowthMiB  float64 `json:"growth_mib"`
	HWMMiB     float64 `json:"hwm_mib,omitempty"`
	HWMGrowMiB float64 `json:"hwm_growth_mib,omitempty"`
	// The growth of VmRSS's parts at its sampled peak, and how much more
	// memory the Go runtime had taken from the OS by the end (heap, stacks,
	// its own structures; an upper bound of the Go side's share).
	AnonGrowMiB  float64 `json:"anon_growth_mib"`
	FileGrowMiB  float64 `json:"file_growth_mib"`
	ShmemGrowMiB float64 `json:"shmem_growth_mib"`
	GoSysGrowMiB float64 `json:"go_sys_growth_mib"`
	Samples      int     `json:"samples"`
}

// startRSS frees what the garbage collector can first, so that the baseline
// is the process at rest, then starts sampling.
func startRSS() *rssMeter {
	runtime.GC()
	debug.FreeOSMemory()
	m := &rssMeter{stop: make(chan struct{}), done: make(chan struct{})}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.goBase = ms.Sys - ms.HeapReleased
	m.base = readMem()
	m.max = m.base
	m.hwmOK = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				v := readMem()
				m.mu.Lock()
				if v.rss > m.max.rss {
					m.max = v
				}
				m.samples++
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *rssMeter) end() rssUse {
	close(m.stop)
	<-m.done
	v := readMem()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.rss > m.max.rss {
		m.max = v
	}
	const mib = 1 << 20
	b, x := m.base, m.max
	u := rssUse{BaseMiB: float64(b.rss) / mib, PeakMiB: float64(x.rss) / mib, GrowthMiB: float64(x.rss-b.rss) / mib,
		AnonGrowMiB: float64(x.anon-b.anon) / mib, FileGrowMiB: float64(x.file-b.file) / mib, ShmemGrowMiB: float64(x.shmem-b.shmem) / mib,
		GoSysGrowMiB: (float64(ms.Sys-ms.HeapReleased) - float64(m.goBase)) / mib, Samples: m.samples}
	if m.hwmOK {
		hwm := procStatusFields("VmHWM")[0]
		u.HWMMiB = float64(hwm) / mib
		u.HWMGrowMiB = float64(hwm-b.rss) / mib
	}
	return u
}

// procStatusFields returns "kB" fields of /proc/self/status in bytes.
func procStatusFields(fields ...string) []int64 {
	out := make([]int64, len(fields))
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for i, f := range fields {
			if name == f {
				if w := strings.Fields(v); len(w) > 0 {
					n, _ := strconv.ParseInt(w[0], 10, 64)
					out[i] = n << 10
				}
			}
		}
	}
	return out
}
