package csvio

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Runner defaults.
const (
	// StaleUpload is how old an upload that never finished must be before
	// its job and chunks are deleted.
	StaleUpload      = 24 * time.Hour
	DefaultBatchSize = 2000
	DefaultLease     = 30 * time.Second
	DefaultPoll      = time.Second
)

// Runner runs import jobs: any instance may run one, and one that dies is
// taken over when its lease runs out, from the last committed batch. Each
// committed batch renews the lease, so a job needs no other heartbeat.
type Runner struct {
	*Importer
	owner     string
	lease     time.Duration
	batchSize int
	logger    *slog.Logger
	loop      *worker.Loop[*linkd.ImportJob]
	purge     *worker.Schedule
}

// NewRunner returns a runner of im's jobs; o.Owner names this process in
// leases. Zero batchSize, o.Lease and o.Poll take the defaults above.
func NewRunner(im *Importer, o worker.Options, batchSize int) *Runner {
	o.Name = "imports"
	o.Lease = cmp.Or(o.Lease, DefaultLease)
	o.Poll = cmp.Or(o.Poll, DefaultPoll)
	if o.Clock == nil {
		o.Clock = im.now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{Importer: im, owner: o.Owner, lease: o.Lease, batchSize: cmp.Or(batchSize, DefaultBatchSize), logger: o.Logger}
	r.loop = worker.New(o, worker.Source[*linkd.ImportJob]{
		Claim:  worker.One(im.store.ClaimImportJob),
		Run:    r.run,
		Tenant: (*linkd.ImportJob).Tenant,
	})
	// An upload in progress takes minutes at most; one older than a day
	// lost its instance mid-request and will never finish.
	r.purge = worker.NewSchedule(o, "purge-stale-uploads", time.Hour, im.store, func(ctx context.Context, _ time.Time) error {
		n, err := r.store.PurgeStaleUploads(ctx, r.now().Add(-StaleUpload))
		if n > 0 {
			r.logger.Info("purged abandoned uploads", "jobs", n)
		}
		return err
	})
	return r
}

// Wake asks the runner to look for work now (a job was just queued here).
func (r *Runner) Wake() { r.loop.Wake() }

// Run claims and runs jobs until ctx ends. Between batches a job checks
// ctx, so a shutdown stops at a batch boundary; the job resumes wherever it
// is claimed next. It returns once the purge schedule has stopped too: the
// caller closes the store next, and a purge still firing would use it.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { r.purge.Run(ctx) })
	r.loop.Run(ctx)
	wg.Wait()
}

// Drain runs the jobs there are, one after another, and reports how many
// it ran; it stops at the first that fails. Tests and the benchmark use it.
func (r *Runner) Drain(ctx context.Context) (int, error) { return r.loop.Drain(ctx) }

// run processes one claimed job.
func (r *Runner) run(ctx context.Context, job *linkd.ImportJob) error {
	log := r.logger.With("import_job", job.ID, "org_id", job.OrgID, "environment", job.Env)
	log.Info("running import job", "file", job.FileName, "rows", job.RowsTotal, "resume_at_row", job.RowsProcessed)
	err := r.process(ctx, job, log)
	switch {
	case err == nil, ctx.Err() != nil:
		return err
	case linkd.ErrorCode(err) == linkd.ECONFLICT:
		// Cancelled, or another instance took over: it is theirs now.
		log.Info("import job stopped", "reason", linkd.ErrorMessage(err))
		return nil
	}
	log.Error("import job failed", "err", err)
	cur, gerr := r.store.ImportJob(ctx, job.Tenant(), job.ID)
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	msg := fmt.Sprintf("stopped by an internal error after %d of %d rows; the rows before it are committed", cur.RowsProcessed, cur.RowsTotal)
	if _, ferr := r.store.FinishImportJob(ctx, cur, r.owner, linkd.ImportFailed, msg, r.auditEntry(cur, linkd.ImportFailed), r.now()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

func (r *Runner) process(ctx context.Context, job *linkd.ImportJob, log *slog.Logger) error {
	var err error
	var seen map[string]bool
	if job.DryRun {
		// A dry run writes no accounts, so repeated ids are tracked here,
		// and an interrupted one starts over: it has nothing to resume.
		seen = map[string]bool{}
		if job.Offset > 0 {
			if job, err = r.store.RestartImportJob(ctx, job, r.owner); err != nil {
				return err
			}
		}
	}
	l, err := parseHeader(append([]string(nil), job.Columns...), job.Options.Mapping)
	if err != nil {
		return fmt.Errorf("stored header: %w", err)
	}
	src := bufio.NewReaderSize(&chunkReader{ctx: ctx, store: r.store, jobID: job.ID, size: job.SizeBytes, pos: job.Offset}, 64<<10)
	// The reader starts at job.Offset, so its offsets count from there.
	base := job.Offset
	if base == 0 {
		n, err := skipBOM(src)
		if err != nil {
			return fmt.Errorf("read header: %w", err)
		}
		base = int64(n)
	}
	cr, err := newReader(src, job.Options.Delimiter)
	if err != nil {
		return fmt.Errorf("stored options: %w", err)
	}
	if job.Offset == 0 {
		if _, err := cr.Read(); err != nil {
			return fmt.Errorf("read header: %w", err)
		}
	}
	// Parsing runs one batch ahead of the database, on the other core.
	type parsed struct {
		rows   []parsedRow
		ids    []string
		offset int64
		done   bool
		err    error
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan parsed, 1)
	go func() {
		defer close(batches)
		next := job.RowsProcessed + 2 // record number of the next row; the header is row 1
		for {
			rows, ids, done, err := r.readBatch(cr, l, next)
			select {
			case batches <- parsed{rows, ids, base + cr.InputOffset(), done, err}:
			case <-pctx.Done():
				return
			}
			if done || err != nil {
				return
			}
			next += int64(len(rows))
		}
	}()
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(b.rows) > 0 {
			var applied []string
			job, err = r.store.CommitImportBatch(ctx, job, r.owner, b.ids, r.decide(job, b.rows, b.offset, seen, &applied), r.now(), r.lease)
			if err != nil {
				return err
			}
			for _, id := range applied {
				if seen != nil {
					seen[id] = true
				}
			}
		}
		if b.done {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	job, err = r.store.FinishImportJob(ctx, job, r.owner, linkd.ImportSucceeded, "", r.auditEntry(job, linkd.ImportSucceeded), r.now())
	if err != nil {
		return err
	}
	log.Info("import job succeeded", "rows", job.RowsProcessed, "created", job.Created, "updated", job.Updated, "unchanged", job.Unchanged, "failed", job.Failed)
	return nil
}

// parsedRow is one record, turned into input or an error.
type parsedRow struct {
	num int64 // record number; the header is 1
	in  linkd.AccountInput
	err *linkd.ImportRowError
}

// readBatch reads up to BatchSize records. done tells the file has ended.
func (r *Runner) readBatch(cr *csv.Reader, l *layout, first int64) (rows []parsedRow, ids []string, done bool, err error) {
	for len(rows) < r.batchSize {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, ids, true, nil
		}
		num := first + int64(len(rows))
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, nil, false, err
			}
			rows = append(rows, parsedRow{num: num, err: &linkd.ImportRowError{Row: num, Message: "malformed CSV: " + pe.Err.Error()}})
			continue
		}
		in, rowErr := l.row(num, rec)
		rows = append(rows, parsedRow{num: num, in: in, err: rowErr})
		if rowErr == nil {
			ids = append(ids, in.AccountID)
		}
	}
	return rows, ids, false, nil
}

// decide returns the batch function: it runs inside the store's transaction
// with the current state of the accounts the rows name, and applies each row
// as the API would (AccountService.Apply). An account the job already wrote
// carries the job's id (ImportJob), which is how a repeated id within the file
// is told from an account that existed before; the first row wins. A dry run
// writes nothing, so it tracks ids in seen instead.
func (r *Runner) decide(job *linkd.ImportJob, rows []parsedRow, offset int64, seen map[string]bool, applied *[]string) linkd.ImportBatchFunc {
	t := job.Tenant()
	return func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		*applied = (*applied)[:0]
		// The store may run this more than once: nothing outside b changes
		// until the end, and only for a dry run.
		b := &linkd.ImportBatch{Offset: offset, Processed: int64(len(rows))}
		touched := map[string]*linkd.LinkedAccount{}
		fail := func(row parsedRow, col, msg string) {
			b.Errors = append(b.Errors, linkd.ImportRowError{Row: row.num, Column: col, AccountID: row.in.AccountID, Message: msg})
			b.Failed++
		}
		for _, row := range rows {
			if row.err != nil {
				b.Errors = append(b.Errors, *row.err)
				b.Failed++
				continue
			}
			id := row.in.AccountID
			acct, inBatch := touched[id]
			if !inBatch {
				acct = cur[id]
			}
			switch {
			case inBatch || seen[id] || (acct != nil && acct.ImportJob == job.ID):
				fail(row, ColID, fmt.Sprintf("linked_account_id %s appears earlier in this file; the first row wins", id))
				continue
			case job.Mode == linkd.ImportCreate && acct != nil:
				fail(row, ColID, fmt.Sprintf("Linked account with id %s already exists in the %s environment", id, t.Env))
				continue
			}
			next, _, err := r.Accounts.Apply(t, job.Actor, acct, row.in)
			if err != nil {
				var e *linkd.Error
				if !errors.As(err, &e) {
					return nil, err
				}
				fail(row, e.Field, e.Message)
				continue
			}
			switch {
			case acct == nil:
				b.Created++
				next.ImportJob = job.ID
				b.Creates = append(b.Creates, next)
			case next == nil:
				// Nothing changes, but the account is marked, so a repeat
				// of its id later in the file is still caught.
				b.Unchanged++
				marked := *acct
				marked.ImportJob = job.ID
				next = &marked
				b.Updates = append(b.Updates, next)
			default:
				b.Updated++
				next.ImportJob = job.ID
				b.Updates = append(b.Updates, next)
			}
			touched[id] = next
			*applied = append(*applied, id)
		}
		if job.DryRun {
			b.Creates, b.Updates = nil, nil
		}
		return b, nil
	}
}

// auditEntry records a finished import: who, which file, what it did.
func (r *Runner) auditEntry(j *linkd.ImportJob, state string) *linkd.AuditEntry {
	return ImportAudit(j, j.Actor, state, r.now())
}

// ImportAudit is the audit entry of an import that ended in state, by actor
// (who ran it, or who cancelled it). It announces Import Completed: an
// import's one webhook event, whatever the number of rows (its rows are
// applied with AccountService.Apply, which announces nothing), so a
// million-row file costs one delivery per endpoint, not a million.
func ImportAudit(j *linkd.ImportJob, actor, state string, now time.Time) *linkd.AuditEntry {
	return &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: actor, Action: linkd.AuditAccountImport,
		Details: map[string]any{"import_job": j.ID, "file_name": j.FileName, "mode": j.Mode, "dry_run": j.DryRun, "state": state,
			"rows": j.RowsProcessed, "created": j.Created, "updated": j.Updated, "unchanged": j.Unchanged, "failed": j.Failed},
		Events: []*linkd.Event{linkd.NewImportEvent(j, state, now)}}
}

// chunkReader reads a job's stored file from an offset.
type chunkReader struct {
	ctx   context.Context
	store linkd.ImportStore
	jobID string
	size  int64
	pos   int64
	buf   []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		if c.pos >= c.size {
			return 0, io.EOF
		}
		seq := int(c.pos / linkd.ImportChunkSize)
		data, err := c.store.ImportChunk(c.ctx, c.jobID, seq)
		if err != nil {
			return 0, err
		}
		off := int(c.pos % linkd.ImportChunkSize)
		if off > len(data) {
			return 0, fmt.Errorf("import chunk %d is %d bytes; offset %d is past it", seq, len(data), off)
		}
		c.buf = data[off:]
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	c.pos += int64(n)
	return n, nil
}
