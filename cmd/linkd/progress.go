package main

// The progress line of the import and export commands, and how they write
// numbers for people.

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/dustin/go-humanize"
	"github.com/linkd-dev/linkd"
)

// recordCounter counts the CSV records written through it: line ends outside
// quoted fields (a quoted field may hold line ends; an escaped quote "" flips
// the state twice).
type recordCounter struct {
	records int64
	quoted  bool
}

func (c *recordCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '"':
			c.quoted = !c.quoted
		case b == '\n' && !c.quoted:
			c.records++
		}
	}
	return len(p), nil
}

// countingReader counts what is read through it, for the upload's progress,
// and calls eof once at the end of the input.
type countingReader struct {
	r      io.Reader
	n      atomic.Int64
	eof    func()
	eofRan bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF && !c.eofRan {
		c.eofRan = true
		c.eof()
	}
	return n, err
}

// progress draws progress on stderr: on a terminal, one line redrawn in
// place; elsewhere (CI logs, files) a plain line every few seconds or every
// tenth of the way.
type progress struct {
	w     io.Writer
	tty   bool
	width int // terminal columns, 0 when unknown
	drawn bool

	// plain output: when the last line was printed and at which tenth
	lastAt   time.Time
	lastStep int

	// rate: the first observation of the current phase
	phase    string
	since    time.Time
	sinceVal int64
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, lastStep: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			p.width = cols
		}
	}
	return p
}

// rate returns the speed of the current phase since it was first seen, per
// second; 0 until there is enough to tell.
func (p *progress) rate(phase string, v int64, now time.Time) float64 {
	if phase != p.phase {
		p.phase, p.since, p.sinceVal = phase, now, v
		p.lastAt, p.lastStep = time.Time{}, -1
		return 0
	}
	d := now.Sub(p.since).Seconds()
	if d < 0.5 {
		return 0
	}
	return float64(v-p.sinceVal) / d
}

// upload draws the upload's progress; size is -1 when unknown.
func (p *progress) upload(name string, sent, size int64, now time.Time) {
	r := p.rate("upload", sent, now)
	frac := -1.0
	parts := []string{"uploading " + name}
	if size > 0 {
		frac = float64(sent) / float64(size)
		parts = append(parts, p.bar(frac)+percent(frac), bytesText(sent)+"/"+bytesText(size))
	} else {
		parts = append(parts, bytesText(sent))
	}
	if r > 0 {
		parts = append(parts, bytesText(int64(r))+"/s")
		if size > 0 {
			parts = append(parts, "ETA "+eta(float64(size-sent)/r))
		}
	}
	p.draw(strings.Join(parts, "  "), frac, now)
}

// job draws an import job's progress.
func (p *progress) job(name string, j *importJob, now time.Time) {
	verb := "importing"
	if j.DryRun {
		verb = "checking"
	}
	parts := []string{verb + " " + name}
	if j.State == linkd.ImportQueued || j.State == linkd.ImportUploading {
		p.draw(strings.Join(append(parts, "queued, waiting for a worker"), "  "), 0, now)
		return
	}
	r := p.rate("job", j.RowsProcessed, now)
	parts = append(parts, p.bar(j.Progress)+percent(j.Progress),
		count(j.RowsProcessed)+"/"+count(j.RowsTotal)+" rows")
	if r > 0 {
		parts = append(parts, count(int64(r))+" rows/s")
		if !j.finished() {
			parts = append(parts, "ETA "+eta(float64(j.RowsTotal-j.RowsProcessed)/r))
		}
	}
	counts := "created " + count(j.Created)
	if j.Mode == linkd.ImportUpsert {
		counts += " updated " + count(j.Updated) + " unchanged " + count(j.Unchanged)
	}
	parts = append(parts, counts+" failed "+count(j.Failed))
	p.draw(strings.Join(parts, "  "), j.Progress, now)
}

// bar is a ten-cell progress bar and a space, on a terminal only.
func (p *progress) bar(frac float64) string {
	if !p.tty {
		return ""
	}
	full := min(max(int(frac*10), 0), 10)
	return strings.Repeat("█", full) + strings.Repeat("░", 10-full) + " "
}

// draw shows line: redrawn in place on a terminal, else printed when the
// last print is 2 s old or frac reached another tenth (frac < 0: unknown).
func (p *progress) draw(line string, frac float64, now time.Time) {
	if p.tty {
		if p.width > 1 && utf8.RuneCountInString(line) >= p.width {
			line = string([]rune(line)[:p.width-1])
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	step := -1
	if frac >= 0 {
		step = int(frac * 10)
	}
	if now.Sub(p.lastAt) < 2*time.Second && (step < 0 || step == p.lastStep) {
		return
	}
	p.lastAt, p.lastStep = now, step
	fmt.Fprintln(p.w, line)
}

// finish ends the line on screen, keeping it.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// clear removes the line on screen.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// count writes n with thousands separators: 1,000,000.
func count(n int64) string { return humanize.Comma(n) }

func percent(frac float64) string {
	return strconv.Itoa(min(max(int(frac*100), 0), 100)) + "%"
}

// bytesText writes a size in binary units: 512 B, 1.5 MiB.
func bytesText(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// eta writes the time left, given in seconds, in whole seconds rounded up:
// "0s" would claim the work done.
func eta(secs float64) string {
	return round(time.Duration(math.Ceil(secs)) * time.Second)
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// round shortens a duration for people: 2s, 1m5s, 1h2m0s; under a second,
// tenths.
func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
