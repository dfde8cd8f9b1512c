package main

import (
	"fmt"
	"strings"
)

// Targets of the import (docs/BENCHMARKS-import.md).
const (
	sqliteMinRatio   = 0.3     // of the sqlite3 CLI's .import
	sqliteMinRowsSec = 100_000 // end to end
	pgMinRatio       = 0.5     // of psql's \copy
	maxRSSGrowthMiB  = 100     // for a file of 1 GiB
)

type fileInfo struct {
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"`
	Columns string `json:"columns"`
}

// importRun is one upload and run of a job on a fresh store.
type importRun struct {
	Rows          int64   `json:"rows"`
	Bytes         int64   `json:"bytes"`
	UploadSeconds float64 `json:"upload_seconds"`
	RunSeconds    float64 `json:"run_seconds"`
	UploadCPU     cpuUse  `json:"upload_cpu"`
	RunCPU        cpuUse  `json:"run_cpu"`
	TotalCPU      cpuUse  `json:"total_cpu"`
	RSS           rssUse  `json:"rss"`
	// Store is where the time went (import_timing.go); Progress the job's rows at
	// moments of the run; PGActivity what PostgreSQL's backends were doing
	// (-pg-activity).
	Store      storeTimes      `json:"store"`
	Progress   []progressPoint `json:"progress,omitempty"`
	PGActivity map[string]int  `json:"pg_activity,omitempty"`
	// SearchMergeSeconds is how long the merge of the search index that
	// SQLite runs after a large import took, after the run (not part of
	// it; waited for, so that the floor and the exports are not measured
	// beside it).
	SearchMergeSeconds float64 `json:"search_merge_seconds,omitempty"`
}

func (r importRun) Seconds() float64 { return r.UploadSeconds + r.RunSeconds }
func (r importRun) RowsPerSec() float64 {
	return float64(r.Rows) / r.Seconds()
}

func (r importRun) String() string {
	return fmt.Sprintf("%s rows/s end to end (upload %.2fs = %s rows/s, run %.2fs = %s rows/s); RSS +%.0f MiB (HWM +%.0f); %s",
		thousands(r.RowsPerSec()), r.UploadSeconds, thousands(float64(r.Rows)/r.UploadSeconds), r.RunSeconds, thousands(float64(r.Rows)/r.RunSeconds),
		r.RSS.GrowthMiB, r.RSS.HWMGrowMiB, r.TotalCPU.detail())
}

// timedRun is a run of a known number of rows: a floor or an export.
type timedRun struct {
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	CPU     cpuUse  `json:"cpu"`
}

func (r timedRun) RowsPerSec() float64 { return float64(r.Rows) / r.Seconds }
func (r timedRun) String() string {
	return fmt.Sprintf("%s rows/s (%.2fs); %s", thousands(r.RowsPerSec()), r.Seconds, r.CPU.detail())
}

// floorRun is one timed run of the engine's own loader.
type floorRun struct {
	Command string `json:"command"`
	timedRun
}

// exportRun is one csvio.Export of every imported account.
type exportRun struct {
	timedRun
	Bytes int64 `json:"bytes,omitempty"`
}

type engineResult struct {
	Engine         string      `json:"engine"`
	Version        string      `json:"version"`
	FloorVersion   string      `json:"floor_version"`
	Imports        []importRun `json:"imports"`
	Floors         []floorRun  `json:"floors"`
	ExportsDiscard []exportRun `json:"exports_discard"`
	ExportsFile    []exportRun `json:"exports_file"`
	Best           bestOf      `json:"best"`
}

// bestOf holds the fastest run of each kind, and the largest memory growth
// of all import runs.
type bestOf struct {
	Import          importRun `json:"import"`
	Floor           floorRun  `json:"floor"`
	ExportDiscard   exportRun `json:"export_discard"`
	ExportFile      exportRun `json:"export_file"`
	Ratio           float64   `json:"ratio"`     // end-to-end rows/s ÷ floor rows/s
	RunRatio        float64   `json:"run_ratio"` // job-run-only rows/s ÷ floor rows/s
	MaxRSSGrowthMiB float64   `json:"max_rss_growth_mib"`
}

func (e *engineResult) summarize() {
	b := &e.Best
	for i, r := range e.Imports {
		if i == 0 || r.Seconds() < b.Import.Seconds() {
			b.Import = r
		}
		b.MaxRSSGrowthMiB = max(b.MaxRSSGrowthMiB, r.RSS.GrowthMiB, r.RSS.HWMGrowMiB)
	}
	for i, r := range e.Floors {
		if i == 0 || r.Seconds < b.Floor.Seconds {
			b.Floor = r
		}
	}
	for i, r := range e.ExportsDiscard {
		if i == 0 || r.Seconds < b.ExportDiscard.Seconds {
			b.ExportDiscard = r
		}
	}
	for i, r := range e.ExportsFile {
		if i == 0 || r.Seconds < b.ExportFile.Seconds {
			b.ExportFile = r
		}
	}
	if len(e.ExportsDiscard) == 0 {
		b.ExportDiscard = exportRun{timedRun: timedRun{Seconds: 1}} // not measured: reads as 0 rows/s
	}
	if len(e.ExportsFile) == 0 {
		b.ExportFile = exportRun{timedRun: timedRun{Seconds: 1}}
	}
	b.Ratio = b.Import.RowsPerSec() / b.Floor.RowsPerSec()
	b.RunRatio = float64(b.Import.Rows) / b.Import.RunSeconds / b.Floor.RowsPerSec()
}

type bigResult struct {
	Engine string    `json:"engine"`
	File   fileInfo  `json:"file"`
	Import importRun `json:"import"`
}

// importReport is what the import phase measured.
type importReport struct {
	File    fileInfo        `json:"file"`
	Engines []*engineResult `json:"engines"`
	Big     *bigResult      `json:"big,omitempty"`
}

func yes(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

func cpuCell(u cpuUse) string {
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f; load %.2f", u.Self, u.Child, u.Postgres, u.Other, u.Load)
}

func writtenCell(u cpuUse) string {
	return fmt.Sprintf("%.0f", u.WrittenMiB)
}

// markdown renders the import phase's figures.
func (r *importReport) markdown(cfg *config) string {
	var b strings.Builder
	batch := "default (2000)"
	if cfg.BatchSize > 0 {
		batch = thousands(float64(cfg.BatchSize))
	}
	fmt.Fprintf(&b, "\n### CSV import and export\n\nBatch size %s.", batch)
	if len(r.Engines) > 0 {
		fmt.Fprintf(&b, " File: %s rows, %.1f MiB (%s), ids in %s order; fastest of %d runs.",
			thousands(float64(r.File.Rows)), mib(r.File.Bytes), r.File.Columns, cfg.IDs, cfg.Runs)
	}
	b.WriteString("\n\n")
	b.WriteString("| Engine | Measure | linkd | Floor | linkd ÷ floor | Target | |\n|---|---|---|---|---|---|---|\n")
	for _, e := range r.Engines {
		x := e.Best
		imp := x.Import
		var target string
		var ok bool
		switch e.Engine {
		case "sqlite":
			target = fmt.Sprintf("≥ %.1f × floor and ≥ %s rows/s", sqliteMinRatio, thousands(sqliteMinRowsSec))
			ok = x.Ratio >= sqliteMinRatio && imp.RowsPerSec() >= sqliteMinRowsSec
		case "postgres":
			target = fmt.Sprintf("≥ %.1f × floor", pgMinRatio)
			ok = x.Ratio >= pgMinRatio
		}
		fmt.Fprintf(&b, "| %s | import, end to end (Upload + RunOne) | %s rows/s (%.2f s; wrote %s MiB) | %s rows/s (%.2f s; wrote %s MiB) | %.2f | %s | %s |\n",
			e.Engine, thousands(imp.RowsPerSec()), imp.Seconds(), thousands(imp.TotalCPU.WrittenMiB), thousands(x.Floor.RowsPerSec()), x.Floor.Seconds, thousands(x.Floor.CPU.WrittenMiB), x.Ratio, target, yes(ok))
		fmt.Fprintf(&b, "| %s | … upload (Importer.Upload) | %s rows/s (%.2f s, %.0f MiB/s) | | | | |\n",
			e.Engine, thousands(float64(imp.Rows)/imp.UploadSeconds), imp.UploadSeconds, mib(imp.Bytes)/imp.UploadSeconds)
		fmt.Fprintf(&b, "| %s | … job run (Runner.RunOne) | %s rows/s (%.2f s) | | %.2f | | |\n",
			e.Engine, thousands(float64(imp.Rows)/imp.RunSeconds), imp.RunSeconds, x.RunRatio)
		fmt.Fprintf(&b, "| %s | RSS growth, upload + run (%.0f MiB file; largest of the runs) | +%.0f MiB | | | ≤ ~%d MiB (for a 1 GiB file) | %s |\n",
			e.Engine, mib(imp.Bytes), x.MaxRSSGrowthMiB, maxRSSGrowthMiB, yes(x.MaxRSSGrowthMiB <= maxRSSGrowthMiB*1.05))
		fmt.Fprintf(&b, "| %s | export to io.Discard | %s rows/s (%.2f s) | | | | |\n",
			e.Engine, thousands(x.ExportDiscard.RowsPerSec()), x.ExportDiscard.Seconds)
		fmt.Fprintf(&b, "| %s | export to a file | %s rows/s (%.2f s, %.0f MiB) | | | | |\n",
			e.Engine, thousands(x.ExportFile.RowsPerSec()), x.ExportFile.Seconds, mib(x.ExportFile.Bytes))
	}
	if g := r.Big; g != nil {
		growth := max(g.Import.RSS.GrowthMiB, g.Import.RSS.HWMGrowMiB)
		fmt.Fprintf(&b, "| %s | big file (%s rows, %.0f MiB): end to end | %s rows/s (upload %.1f s + run %.1f s) | | | | |\n",
			g.Engine, thousands(float64(g.File.Rows)), mib(g.File.Bytes), thousands(g.Import.RowsPerSec()), g.Import.UploadSeconds, g.Import.RunSeconds)
		fmt.Fprintf(&b, "| %s | big file: RSS growth, upload + run | +%.0f MiB | | | ≤ ~%d MiB | %s |\n",
			g.Engine, growth, maxRSSGrowthMiB, yes(growth <= maxRSSGrowthMiB*1.05))
	}
	b.WriteString("\nWhere the fastest import's time went, in seconds of wall time (the store is wrapped to time its calls):\n\n" +
		"| Engine | Upload | … storing chunks | Run | … in CommitImportBatch | … … lookup/lock ids | … … decide rows | … … write + commit | … FinishImportJob | … other (claim, waiting for parsing) | Chunk reads (parsing goroutine) | Batches |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	breakdown := func(name string, x importRun) {
		t := x.Store
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d |\n", name,
			x.UploadSeconds, t.AppendSeconds, x.RunSeconds, t.BatchSeconds, t.LookupSeconds, t.DecideSeconds, t.WriteSeconds, t.FinishSeconds,
			x.RunSeconds-t.BatchSeconds-t.FinishSeconds, t.ChunkSeconds, t.Batches)
	}
	for _, e := range r.Engines {
		breakdown(e.Engine, e.Best.Import)
	}
	if g := r.Big; g != nil {
		breakdown(g.Engine+", big file", g.Import)
	}
	b.WriteString("\nEvery run (the fastest of each kind is in the table above). CPU is in cores, averaged over the run: " +
		"this process / the floor's child process / PostgreSQL for this benchmark / everything else on the machine; load is the 1-minute load average at the end. " +
		"Written is what this process, the floor's process and PostgreSQL's processes for the benchmark wrote to storage (write_bytes; the WAL and the database files).\n\n")
	b.WriteString("| Engine | Run | Seconds | Rows/s | RSS growth (sampled / HWM) | CPU: self / child / PostgreSQL / others | Written MiB |\n|---|---|---|---|---|---|---|\n")
	for _, e := range r.Engines {
		for i, x := range e.Imports {
			fmt.Fprintf(&b, "| %s | import %d: upload | %.2f | %s | | %s | %s |\n", e.Engine, i+1, x.UploadSeconds, thousands(float64(x.Rows)/x.UploadSeconds), cpuCell(x.UploadCPU), writtenCell(x.UploadCPU))
			fmt.Fprintf(&b, "| %s | import %d: run | %.2f | %s | +%.0f / +%.0f MiB | %s | %s |\n", e.Engine, i+1, x.RunSeconds, thousands(float64(x.Rows)/x.RunSeconds),
				x.RSS.GrowthMiB, x.RSS.HWMGrowMiB, cpuCell(x.RunCPU), writtenCell(x.RunCPU))
		}
		for i, x := range e.Floors {
			fmt.Fprintf(&b, "| %s | floor %d | %.2f | %s | | %s | %s |\n", e.Engine, i+1, x.Seconds, thousands(x.RowsPerSec()), cpuCell(x.CPU), writtenCell(x.CPU))
		}
		for i, x := range e.ExportsDiscard {
			fmt.Fprintf(&b, "| %s | export %d to io.Discard | %.2f | %s | | %s | %s |\n", e.Engine, i+1, x.Seconds, thousands(x.RowsPerSec()), cpuCell(x.CPU), writtenCell(x.CPU))
		}
		for i, x := range e.ExportsFile {
			fmt.Fprintf(&b, "| %s | export %d to a file | %.2f | %s | | %s | %s |\n", e.Engine, i+1, x.Seconds, thousands(x.RowsPerSec()), cpuCell(x.CPU), writtenCell(x.CPU))
		}
	}
	if g := r.Big; g != nil {
		x := g.Import
		fmt.Fprintf(&b, "| %s | big: upload | %.2f | %s | | %s | %s |\n", g.Engine, x.UploadSeconds, thousands(float64(x.Rows)/x.UploadSeconds), cpuCell(x.UploadCPU), writtenCell(x.UploadCPU))
		fmt.Fprintf(&b, "| %s | big: run | %.2f | %s | +%.0f / +%.0f MiB | %s | %s |\n", g.Engine, x.RunSeconds, thousands(float64(x.Rows)/x.RunSeconds),
			x.RSS.GrowthMiB, x.RSS.HWMGrowMiB, cpuCell(x.RunCPU), writtenCell(x.RunCPU))
	}
	if len(r.Engines) == 0 {
		return b.String()
	}
	b.WriteString("\nEngines: ")
	for i, e := range r.Engines {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s — linkd on %s, floor %s", e.Engine, e.Version, e.FloorVersion)
	}
	b.WriteString(".\n")
	return b.String()
}
