package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/worker"
)

// The import phase: csvio.Importer.Upload of a generated file, then
// csvio.Runner.RunOne of the queued job on a fresh store, beside the floor,
// the engine's own bulk loader putting the same file into a bare table with
// a unique index on the id; the growth of this process's resident memory
// during upload and run; and csvio.Export of the imported accounts, to
// io.Discard and to a file. docs/BENCHMARKS-import.md explains it.

// csvFile is the generated file every engine imports.
type csvFile struct {
	path string
	info fileInfo
}

// importFile generates the phase's file at its first use.
func (r *runner) importFile() (*csvFile, error) {
	if r.csv != nil {
		return r.csv, nil
	}
	path := filepath.Join(r.dir, "accounts.csv")
	t0 := time.Now()
	rows, size, err := genFile(path, r.cfg.Rows, 0, genOptions{seed: r.cfg.FileSeed, sorted: r.cfg.IDs == "sorted"})
	if err != nil {
		return nil, err
	}
	r.csv = &csvFile{path: path, info: fileInfo{Rows: rows, Bytes: size, Columns: strings.TrimSpace(csvHeader)}}
	if r.rep.Imports != nil {
		r.rep.Imports.File = r.csv.info
	}
	r.logf("generated %s: %d rows, %.1f MiB in %.1fs", path, rows, float64(size)/(1<<20), time.Since(t0).Seconds())
	return r.csv, nil
}

// imports runs the imports and floors on eng in turn, -runs times, then the
// exports of the last import's accounts.
func (r *runner) imports(ctx context.Context, e engine) error {
	file, err := r.importFile()
	if err != nil {
		return err
	}
	res := &engineResult{Engine: e.Name(), FloorVersion: e.ImportFloorVersion(ctx)}
	var last *imported
	defer func() {
		if last != nil {
			last.db.Drop()
		}
	}()
	for i := 1; i <= r.cfg.Runs; i++ {
		if last != nil {
			if err := last.db.Drop(); err != nil {
				return err
			}
			last = nil
		}
		im, err := r.importOnce(ctx, e, file, fmt.Sprintf("import_run%d", i), r.lastRunProfile(i, "import-"+e.Name()), nil)
		if err != nil {
			return err
		}
		last = im
		res.Version = e.Version(ctx, im.db)
		res.Imports = append(res.Imports, im.run)
		r.logf("%s import %d: %s", e.Name(), i, im.run)

		fr, err := r.floorOnce(ctx, e, file, fmt.Sprintf("import_floor%d", i))
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		res.Floors = append(res.Floors, fr)
		r.logf("%s floor %d: %s", e.Name(), i, fr)
	}
	for i := 1; i <= r.cfg.Runs && r.cfg.Exports; i++ {
		er, err := r.exportOnce(ctx, e, last, "", r.lastRunProfile(i, "export-"+e.Name()))
		if err != nil {
			return err
		}
		res.ExportsDiscard = append(res.ExportsDiscard, er)
		r.logf("%s export to io.Discard %d: %s", e.Name(), i, er)
		er, err = r.exportOnce(ctx, e, last, filepath.Join(r.dir, "export.csv"), "")
		if err != nil {
			return err
		}
		res.ExportsFile = append(res.ExportsFile, er)
		r.logf("%s export to a file %d: %s", e.Name(), i, er)
	}
	res.summarize()
	r.rep.Imports.Engines = append(r.rep.Imports.Engines, res)
	return nil
}

// lastRunProfile names the CPU profile of run i when it is the last, or ""
// for none.
func (r *runner) lastRunProfile(i int, name string) string {
	if r.cfg.CPUProfile == "" || i != r.cfg.Runs {
		return ""
	}
	return filepath.Join(r.cfg.CPUProfile, name+".prof")
}

// importBig uploads and imports one file of about -big-bytes on SQLite,
// for its memory use.
func (r *runner) importBig(ctx context.Context) error {
	path := filepath.Join(r.dir, "big.csv")
	defer os.Remove(path)
	t0 := time.Now()
	limit := r.cfg.BigBytes
	if r.cfg.BigRows > 0 {
		limit = csvio.DefaultMaxBytes
	}
	rows, size, err := genFile(path, r.cfg.BigRows, limit, genOptions{seed: r.cfg.FileSeed + 1, sorted: r.cfg.IDs == "sorted", nameLen: r.cfg.BigNameLen})
	if err != nil {
		return err
	}
	file := &csvFile{path: path, info: fileInfo{Rows: rows, Bytes: size, Columns: strings.TrimSpace(csvHeader)}}
	r.logf("generated %s: %d rows, %.1f MiB in %.1fs", path, rows, float64(size)/(1<<20), time.Since(t0).Seconds())
	e := newSQLiteEngine(r.dir, r.cfg.SQLite3)
	defer e.Close()
	profile := ""
	if r.cfg.CPUProfile != "" {
		profile = filepath.Join(r.cfg.CPUProfile, "import-sqlite-big.prof")
	}
	im, err := r.importOnce(ctx, e, file, "import_big", profile, nil)
	if err != nil {
		return err
	}
	r.logf("sqlite big import: %s", im.run)
	r.rep.Imports.Big = &bigResult{Engine: "sqlite", File: file.info, Import: im.run}
	return im.db.Drop()
}

// imported is an import that ran, with its database still open.
type imported struct {
	db     *database
	tenant linkd.Tenant
	run    importRun
}

// importOnce uploads file into a fresh database and runs the job to its
// end, measuring each half.
// prep, when set, readies the tenant before the upload (the webhooks
// phase adds an endpoint and starts a sender).
func (r *runner) importOnce(ctx context.Context, e engine, file *csvFile, label, profile string, prep func(context.Context, *database, *benchTenant) error) (_ *imported, err error) {
	db, err := e.Open(ctx, label)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Drop()
		}
	}()
	bt, err := setupTenant(ctx, db.store)
	if err != nil {
		return nil, err
	}
	if prep != nil {
		if err := prep(ctx, db, bt); err != nil {
			return nil, err
		}
	}
	store := &timedStore{Store: db.store}
	im := csvio.NewImporter(store, linkd.NewAccountService(store, bt.keys), 0)
	runner := csvio.NewRunner(im, worker.Options{Owner: "bench-imports"}, r.cfg.BatchSize)
	f, err := os.Open(file.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	r.prepare(ctx, e)
	stopProfile, err := startProfile(profile)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	rss := startRSS()
	s0 := r.meter.sample()
	t0 := time.Now()
	job, err := im.Upload(ctx, csvio.UploadRequest{Tenant: bt.Tenant, Actor: "bench", FileName: filepath.Base(file.path), Mode: linkd.ImportCreate}, f)
	t1 := time.Now()
	s1 := r.meter.sample()
	if err != nil {
		rss.end()
		return nil, fmt.Errorf("upload: %w", err)
	}
	stopActivity := func() map[string]int { return nil }
	if pe, ok := e.(*postgresEngine); ok && r.cfg.PGActivity {
		stopActivity = pe.watchActivity(ctx, pe.prefix+"_"+label, 20*time.Millisecond)
	}
	stopProgress := watchProgress(ctx, db.store, bt.Tenant, job.ID, 10*time.Second, r.logf)
	ran, err := runner.Drain(ctx)
	t2 := time.Now()
	s2 := r.meter.sample()
	mem := rss.end()
	progress := stopProgress()
	activity := stopActivity()
	if err != nil || ran != 1 {
		return nil, fmt.Errorf("run: ran %v: %w", ran, err)
	}
	job, err = store.ImportJob(ctx, bt.Tenant, job.ID)
	if err != nil {
		return nil, err
	}
	rows := file.info.Rows
	if job.State != linkd.ImportSucceeded || job.Created != rows || job.RowsProcessed != rows || job.Failed != 0 {
		return nil, fmt.Errorf("the job did not import every row: state %s, %d of %d rows processed, %d created, %d failed (%s)",
			job.State, job.RowsProcessed, rows, job.Created, job.Failed, job.Error)
	}
	run := importRun{Rows: rows, Bytes: file.info.Bytes, UploadSeconds: t1.Sub(t0).Seconds(), RunSeconds: t2.Sub(t1).Seconds(),
		UploadCPU: s1.since(s0, 0, 0), RunCPU: s2.since(s1, 0, 0), TotalCPU: s2.since(s0, 0, 0), RSS: mem,
		Store: store.times(), Progress: progress, PGActivity: activity}
	merge, err := settleSearch(ctx, db.store)
	if err != nil {
		return nil, err
	}
	if merge > 0 {
		run.SearchMergeSeconds = merge.Seconds()
		r.logf("%s %s: search index merged in the background in %s after the run", e.Name(), label, merge.Round(time.Millisecond))
	}
	return &imported{db: db, tenant: bt.Tenant, run: run}, nil
}

// floorOnce times the engine's own loader on the same file.
func (r *runner) floorOnce(ctx context.Context, e engine, file *csvFile, label string) (floorRun, error) {
	rows := file.info.Rows
	cmd, check, cleanup, err := e.ImportFloor(ctx, file.path, label, rows)
	if err != nil {
		return floorRun{}, err
	}
	defer cleanup()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	r.meter.waitQuiet(ctx, r.cfg.QuietWait, r.logf)
	s0 := r.meter.sample()
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
	fr := floorRun{Command: strings.Join(cmd.Args, " "),
		timedRun: timedRun{Rows: rows, Seconds: t1.Sub(t0).Seconds(), CPU: r.meter.sample().since(s0, child, childWrite)}}
	if strings.TrimSpace(out.String()) != "" {
		return floorRun{}, fmt.Errorf("%s: unexpected output: %s", fr.Command, out)
	}
	return fr, check()
}

// exportOnce exports the imported accounts to io.Discard, or to a new file
// at path.
func (r *runner) exportOnce(ctx context.Context, e engine, im *imported, path, profile string) (_ exportRun, err error) {
	var w io.Writer = io.Discard
	var f *os.File
	if path != "" {
		if f, err = os.Create(path); err != nil {
			return exportRun{}, err
		}
		defer os.Remove(path)
		defer f.Close()
		w = f
	}
	r.prepare(ctx, e)
	stopProfile, err := startProfile(profile)
	if err != nil {
		return exportRun{}, err
	}
	s0 := r.meter.sample()
	t0 := time.Now()
	n, err := csvio.Export(ctx, im.db.store, im.tenant, linkd.AccountFilter{}, w)
	if err == nil && f != nil {
		err = f.Close()
	}
	t1 := time.Now()
	cpu := r.meter.sample().since(s0, 0, 0)
	err = errors.Join(err, stopProfile())
	if err != nil {
		return exportRun{}, fmt.Errorf("export: %w", err)
	}
	if n != im.run.Rows {
		return exportRun{}, fmt.Errorf("export wrote %d accounts, want %d", n, im.run.Rows)
	}
	er := exportRun{timedRun: timedRun{Rows: n, Seconds: t1.Sub(t0).Seconds(), CPU: cpu}}
	if f != nil {
		st, err := os.Stat(path)
		if err != nil {
			return exportRun{}, err
		}
		er.Bytes = st.Size()
	}
	return er, nil
}

// prepare gets the machine ready for a measured window: PostgreSQL writes
// out what the previous window left dirty, then the benchmark waits for the
// other processes to be quiet.
func (r *runner) prepare(ctx context.Context, e engine) {
	if pe, ok := e.(*postgresEngine); ok {
		pe.checkpoint(ctx)
	}
	r.meter.waitQuiet(ctx, r.cfg.QuietWait, r.logf)
}
