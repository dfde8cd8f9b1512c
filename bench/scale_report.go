package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// scaleMarkdown renders the scale phase: p99 of each workload at each size,
// one table per engine, with the growth from the smallest to the largest.
func scaleMarkdown(rs []scaleResult) string {
	var b strings.Builder
	b.WriteString("\n### Growth: reads at each tenant size (scale phase)\n\n")
	b.WriteString("p99 in ms (p50 in brackets); pages of 50 without totals unless the workload says so. Growth: p99 at the largest size ÷ p99 at the smallest.\n")
	for _, eng := range scaleEngines(rs) {
		sizes, workloads := scaleAxes(rs, eng)
		fmt.Fprintf(&b, "\n**%s**\n\n| Workload | Clients |", eng)
		for _, n := range sizes {
			fmt.Fprintf(&b, " %s |", scaleSize(n))
		}
		b.WriteString(" Growth |\n|---|---|")
		for range sizes {
			b.WriteString("---|")
		}
		b.WriteString("---|\n")
		for _, w := range workloads {
			var first, last float64
			clients := 0
			fmt.Fprintf(&b, "| %s |", w)
			cells := ""
			for _, n := range sizes {
				x := scaleFind(rs, eng, w, n)
				if x == nil {
					cells += " – |"
					continue
				}
				clients = x.Clients
				if x.Stats.Requests == 0 {
					// Not one request ended within the measured time: no
					// latency to show, and none to compare.
					cells += fmt.Sprintf(" none ended in %.0f s |", x.Stats.Seconds)
					first = -1
					continue
				}
				if first == 0 {
					first = x.Stats.P99ms
				}
				last = x.Stats.P99ms
				errs := ""
				if x.Stats.Errors > 0 {
					errs = fmt.Sprintf(", %d errors", x.Stats.Errors)
				}
				cells += fmt.Sprintf(" %.2f (%.2f)%s |", x.Stats.P99ms, x.Stats.P50ms, errs)
			}
			growth := "–" // also when a size had no request end
			if first > 0 {
				growth = fmt.Sprintf("%.1f×", last/first)
			}
			fmt.Fprintf(&b, " %d |%s %s |\n", clients, cells, growth)
		}
		b.WriteString("\nSeeding (store bulk path):")
		for _, r := range rs {
			if r.Engine == eng && r.SeedSeconds > 0 {
				fmt.Fprintf(&b, " %s in %.0f s (%.0f accounts/s);", scaleSize(r.Accounts), r.SeedSeconds, float64(r.Accounts)/r.SeedSeconds)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func scaleEngines(rs []scaleResult) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Engine) {
			out = append(out, r.Engine)
		}
	}
	return out
}

// scaleAxes returns eng's sizes (ascending) and workloads (in run order).
func scaleAxes(rs []scaleResult, eng string) (sizes []int, workloads []string) {
	for _, r := range rs {
		if r.Engine != eng {
			continue
		}
		if !slices.Contains(sizes, r.Accounts) {
			sizes = append(sizes, r.Accounts)
		}
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
	}
	slices.Sort(sizes)
	return sizes, workloads
}

func scaleFind(rs []scaleResult, eng, w string, n int) *scaleResult {
	for i := range rs {
		if r := &rs[i]; r.Engine == eng && r.Workload == w && r.Accounts == n {
			return r
		}
	}
	return nil
}

func scaleSize(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// writeScaleSVG plots p99 against tenant size (both on log scales), one
// line per engine and workload, into dir/scale.svg.
func writeScaleSVG(dir string, rs []scaleResult) error {
	const w, h, left, right, top, bottom = 760.0, 420.0, 60.0, 250.0, 30.0, 40.0
	minN, maxN, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		if r.Stats.P99ms <= 0 {
			continue
		}
		minN, maxN = math.Min(minN, float64(r.Accounts)), math.Max(maxN, float64(r.Accounts))
		minY, maxY = math.Min(minY, r.Stats.P99ms), math.Max(maxY, r.Stats.P99ms)
	}
	if math.IsInf(minN, 1) {
		return nil
	}
	lx0, lx1 := math.Log10(minN), math.Log10(maxN)
	if lx1 == lx0 {
		lx1 = lx0 + 1
	}
	ly0, ly1 := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	if ly1 == ly0 {
		ly1 = ly0 + 1
	}
	x := func(n float64) float64 { return left + (math.Log10(n)-lx0)/(lx1-lx0)*(w-left-right) }
	y := func(v float64) float64 { return h - bottom - (math.Log10(v)-ly0)/(ly1-ly0)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="18" font-size="13">p99 latency (ms, log) by tenant size (accounts, log); solid SQLite, dashed PostgreSQL</text>`+"\n", left)
	for e := ly0; e <= ly1; e++ {
		v := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%g</text>`+"\n", left, w-right, y(v), y(v), left-4, y(v)+4, v)
	}
	var sizes []int
	for _, r := range rs {
		if !slices.Contains(sizes, r.Accounts) {
			sizes = append(sizes, r.Accounts)
		}
	}
	for _, n := range sizes {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(float64(n)), x(float64(n)), top, h-bottom, x(float64(n)), h-bottom+14, scaleSize(n))
	}
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}
	line := 0
	for ei, eng := range scaleEngines(rs) {
		sizes, workloads := scaleAxes(rs, eng)
		dash := []string{"", ` stroke-dasharray="5,3"`}[ei%2]
		for wi, wl := range workloads {
			var pts []string
			for _, n := range sizes {
				if r := scaleFind(rs, eng, wl, n); r != nil && r.Stats.P99ms > 0 {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(n)), y(r.Stats.P99ms)))
				}
			}
			c := colors[wi%len(colors)]
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", c, dash, strings.Join(pts, " "))
			ly := top + 14*float64(line)
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s: %s</text>`+"\n",
				w-right+8, w-right+28, ly, ly, c, dash, w-right+32, ly+4, eng, svgEscape(wl))
			line++
		}
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(filepath.Join(dir, "scale.svg"), []byte(b.String()), 0o644)
}

func svgEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
