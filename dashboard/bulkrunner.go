package dashboard

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// BulkRunner runs bulk jobs (bulk delete). Like the import runner, any
// instance may run a job; one that dies holding it is taken over once its
// lease runs out, from the last saved batch. Each account is deleted
// through AccountService.Delete, so connections are revoked, secrets
// destroyed and an audit entry written exactly as for a single delete.
type BulkRunner struct {
	Store    linkd.Store
	Accounts *linkd.AccountService
	Logger   *slog.Logger
	// Owner names this runner in leases; unique per process.
	Owner     string
	BatchSize int
	Lease     time.Duration
	Poll      time.Duration
	Now       func() time.Time

	wake chan struct{}
}

// Init prepares the runner; call it before Wake if Run has not started.
func (r *BulkRunner) Init() {
	if r.BatchSize <= 0 {
		r.BatchSize = 100
	}
	if r.Lease <= 0 {
		r.Lease = 30 * time.Second
	}
	if r.Poll <= 0 {
		r.Poll = 2 * time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
}

// Wake asks the runner to look for work now.
func (r *BulkRunner) Wake() {
	if r.wake != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *BulkRunner) now() time.Time { return r.Now().UTC().Truncate(time.Microsecond) }

// Run claims and runs jobs until ctx ends.
func (r *BulkRunner) Run(ctx context.Context) {
	r.Init()
	for ctx.Err() == nil {
		ran, err := r.RunOne(ctx)
		if err != nil && ctx.Err() == nil {
			r.Logger.Error("bulk job", "err", err)
		}
		if ran {
			continue
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-time.After(r.Poll):
		}
	}
}

// RunOne claims one job and runs it to its end (or ctx's); it reports
// whether there was a job.
func (r *BulkRunner) RunOne(ctx context.Context) (bool, error) {
	r.Init()
	j, err := r.Store.ClaimBulkJob(ctx, r.Owner, r.now(), r.Lease)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, r.run(ctx, j)
}

func (r *BulkRunner) run(ctx context.Context, j *linkd.BulkJob) error {
	log := r.Logger.With("job", j.ID, "org", j.OrgID, "env", j.Env)
	log.Info("bulk delete started", "total", j.Total, "done", j.Done)
	for ctx.Err() == nil {
		more, err := r.batch(ctx, j, log)
		if err != nil && ctx.Err() != nil {
			// Shutting down: keep the progress; the job resumes from it.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return r.Store.SaveBulkJob(sctx, j, r.Owner, r.now(), r.Lease)
		}
		if err != nil {
			j.State, j.Error = linkd.BulkFailed, "The job stopped on an internal error; the accounts deleted so far stay deleted."
			log.Error("bulk delete failed", "err", err)
		} else if !more {
			j.State = linkd.BulkSucceeded
		}
		if j.Finished() {
			end := r.now()
			j.FinishedAt = &end
		}
		if err := r.Store.SaveBulkJob(ctx, j, r.Owner, r.now(), r.Lease); err != nil {
			return err // ECONFLICT: another instance took the job over
		}
		if j.Finished() {
			log.Info("bulk delete finished", "state", j.State, "done", j.Done, "failed", j.Failed)
			return nil
		}
	}
	return ctx.Err()
}

// batch deletes the next batch of the job's accounts and advances its
// cursor; it reports whether any were left to do.
func (r *BulkRunner) batch(ctx context.Context, j *linkd.BulkJob, log *slog.Logger) (bool, error) {
	t := j.Tenant()
	del := func(accountID string) error {
		err := r.Accounts.Delete(ctx, t, j.Actor, accountID)
		switch linkd.ErrorCode(err) {
		case "", linkd.ENOTFOUND: // gone already counts as done
			j.Done++
		case linkd.EINTERNAL:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Error("bulk delete: account", "account", accountID, "err", err)
			j.Failed++
		default:
			j.Failed++
		}
		return nil
	}
	if ids := j.Selection.IDs; len(ids) > 0 {
		pos, _ := strconv.Atoi(j.Cursor)
		if pos >= len(ids) {
			return false, nil
		}
		end := min(pos+r.BatchSize, len(ids))
		for _, id := range ids[pos:end] {
			if err := del(id); err != nil {
				return true, err
			}
		}
		j.Cursor = strconv.Itoa(end)
		return end < len(ids), nil
	}
	f := j.Selection.Filter()
	f.Cursor, f.Limit, f.SkipTotal = j.Cursor, r.BatchSize, true
	page, err := r.Store.ListAccounts(ctx, t, f)
	if err != nil {
		return true, err
	}
	for _, a := range page.Accounts {
		if err := del(a.AccountID); err != nil {
			return true, err
		}
		j.Cursor = a.ID
	}
	return page.HasNext, nil
}
