package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
	stop    func()
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
	m := &rssMeter{}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.goBase = ms.Sys - ms.HeapReleased
	m.base = readMem()
	m.max = m.base
	m.hwmOK = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.stop = every(context.Background(), 50*time.Millisecond, func() {
		v := readMem()
		m.mu.Lock()
		if v.rss > m.max.rss {
			m.max = v
		}
		m.samples++
		m.mu.Unlock()
	})
	return m
}

func (m *rssMeter) end() rssUse {
	m.stop()
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
