package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// result is one measured workload, with its floor for creates.
type result struct {
	Engine   string  `json:"engine"`
	Workload string  `json:"workload"`
	Request  string  `json:"request"`
	Clients  int     `json:"clients"`
	Linkd    stats   `json:"linkd"`
	Floor    *stats  `json:"floor,omitempty"`
	Ratio    float64 `json:"ratio_to_floor,omitempty"`
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
}

// disturbed reports whether other processes took CPU time from the run.
func (x result) disturbed() bool {
	return x.Linkd.CPU.Other >= quietThreshold || (x.Floor != nil && x.Floor.CPU.Other >= quietThreshold)
}

// seedInfo records how the read tenant was made.
type seedInfo struct {
	Engine            string  `json:"engine"`
	Accounts          int     `json:"accounts"`
	UDFs              int     `json:"udfs"`
	Connections       int     `json:"connections"`
	Seconds           float64 `json:"seconds"`
	AccountsPerSecond float64 `json:"accounts_per_second"`
	Bytes             int64   `json:"bytes_on_disk"`
}

type machine struct {
	CPUs       int               `json:"cpus"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	CPU        string            `json:"cpu_model"`
	MemoryGiB  float64           `json:"memory_gib"`
	Kernel     string            `json:"kernel"`
	Go         string            `json:"go"`
	Databases  map[string]string `json:"databases"`
}

// report is every figure of a run: the create and read phases' results
// and seeds, and the import phase's.
type report struct {
	Started   time.Time        `json:"started"`
	Seconds   float64          `json:"seconds"`
	Machine   machine          `json:"machine"`
	Config    *config          `json:"config"`
	Results   []result         `json:"results"`
	Seeds     []seedInfo       `json:"seeds"`
	Imports   *importReport    `json:"imports,omitempty"`
	Proxies   []proxyResult    `json:"proxies,omitempty"`
	Webhooks  []webhookResult  `json:"webhooks,omitempty"`
	Workflows []workflowResult `json:"workflows,omitempty"`
	Scale     []scaleResult    `json:"scale,omitempty"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPU: "unknown",
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, Databases: map[string]string{}}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = float64(kb) / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

func (r *report) noteVersion(engine, version string) {
	if r.Machine.Databases[engine] == "" {
		r.Machine.Databases[engine] = version
	}
}

// markdown renders the figures as the tables docs/BENCHMARKS.md and
// docs/BENCHMARKS-import.md show.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## linkd benchmark, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%d CPUs (%s), GOMAXPROCS %d, %.0f GiB, %s, %s", r.Machine.CPUs, r.Machine.CPU, r.Machine.GOMAXPROCS, r.Machine.MemoryGiB, r.Machine.Go, r.Machine.Kernel)
	for _, e := range r.Config.Engines {
		if v := r.Machine.Databases[e]; v != "" {
			fmt.Fprintf(&b, ", %s", v)
		}
	}
	fmt.Fprintf(&b, "; GOGC %s. Load generator, server and importer in one process; run took %s.\n", r.Config.GOGC, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	if len(r.Results) > 0 {
		b.WriteString(r.apiMarkdown())
	}
	if r.Imports != nil {
		b.WriteString(r.Imports.markdown(r.Config))
	}
	if len(r.Proxies) > 0 {
		b.WriteString(proxyMarkdown(r.Proxies))
	}
	if len(r.Webhooks) > 0 {
		b.WriteString(webhooksMarkdown(r.Webhooks))
	}
	if len(r.Workflows) > 0 {
		b.WriteString(workflowsMarkdown(r.Workflows))
	}
	if len(r.Scale) > 0 {
		b.WriteString(scaleMarkdown(r.Scale))
	}
	return b.String()
}

// apiMarkdown renders the create and read phases' table.
func (r *report) apiMarkdown() string {
	var b strings.Builder
	b.WriteString("\n### Creates and reads over HTTP\n\nCores: average CPU use in the measured window by the benchmark process, by PostgreSQL (its backends for the benchmark and its background processes), and by anything else.\n\n")
	b.WriteString("| Engine | Workload | Clients | Req/s | p50 ms | p99 ms | Errors | Floor req/s | Floor p50 / p99 ms | linkd ÷ floor | Target | Met | Cores: bench, PG, other |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n")
	disturbed, slow := false, false
	for _, x := range r.Results {
		floorRPS, floorLat, ratio := "–", "–", "–"
		if x.Floor != nil {
			floorRPS = thousands(x.Floor.RPS)
			floorLat = fmt.Sprintf("%.2f / %.2f", x.Floor.P50ms, x.Floor.P99ms)
			ratio = fmt.Sprintf("%.2f", x.Ratio)
		}
		met := "**no**"
		switch {
		case x.Target == "–":
			met = "–"
		case x.Met:
			met = "yes"
		}
		cores := x.Linkd.CPU.String()
		if x.Floor != nil {
			cores += " (floor " + x.Floor.CPU.String() + ")"
		}
		if x.disturbed() {
			cores += " †"
			disturbed = true
		}
		p50, p99 := fmt.Sprintf("%.2f", x.Linkd.P50ms), fmt.Sprintf("%.2f", x.Linkd.P99ms)
		if x.Linkd.Requests == 0 {
			p50, p99 = "–", "– ‡"
			slow = true
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n",
			x.Engine, x.Workload, x.Clients, thousands(x.Linkd.RPS), p50, p99, x.Linkd.Errors,
			floorRPS, floorLat, ratio, x.Target, met, cores)
	}
	if disturbed {
		fmt.Fprintf(&b, "\n† Other processes kept %.2f cores or more busy during the window: that figure is pessimistic.\n", quietThreshold)
	}
	if slow {
		b.WriteString("\n‡ No request both started after the warm-up and finished inside the measured window: each takes longer than the window allows.\n")
	}
	if len(r.Seeds) > 0 {
		b.WriteString("\n")
		for _, s := range r.Seeds {
			fmt.Fprintf(&b, "Seeded (%s): %s accounts with 2 UDFs each, %s of them connected to %s, in %.1f s (%s accounts/s), %.0f MB on disk.\n",
				s.Engine, thousands(float64(s.Accounts)), thousands(float64(s.Connections)), seedApp, s.Seconds, thousands(s.AccountsPerSecond), float64(s.Bytes)/1e6)
		}
	}
	var errs []string
	for _, x := range r.Results {
		if x.Linkd.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s %s: %s", x.Engine, x.Workload, x.Linkd.FirstError))
		}
		if x.Floor != nil && x.Floor.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s %s floor: %s", x.Engine, x.Workload, x.Floor.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nFirst errors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}

// thousands formats a rate as a whole number with thousands separators.
func thousands(v float64) string {
	if v < 0 {
		return "-" + thousands(-v)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// write saves the report as results.json (every figure) and results.md
// (the tables) into dir.
func (r *report) write(dir, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeScaleSVG(dir, r.Scale); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}
