package linkd

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Bulk job kinds and states. A job is "queued" until an instance claims it,
// "running" while it works through its accounts batch by batch, and ends
// "succeeded" or "failed".
const (
	BulkDelete = "delete"

	BulkQueued    = "queued"
	BulkRunning   = "running"
	BulkSucceeded = "succeeded"
	BulkFailed    = "failed"
)

// BulkSelection is the accounts a bulk job acts on: the ids picked one by
// one, or (when IDs is empty) every account matching a list filter.
type BulkSelection struct {
	IDs           []string   `json:"ids,omitempty"`
	Query         string     `json:"q,omitempty"`
	CreatedAfter  *time.Time `json:"created_after,omitempty"`
	CreatedBefore *time.Time `json:"created_before,omitempty"`
	ConnectedApp  string     `json:"app,omitempty"`
}

// Filter returns the selection's list filter (meaningless with IDs).
func (s *BulkSelection) Filter() AccountFilter {
	return AccountFilter{Query: s.Query, CreatedAfter: s.CreatedAfter, CreatedBefore: s.CreatedBefore, ConnectedApp: s.ConnectedApp}
}

// BulkJob is work on many accounts that outlives the request that asked
// for it: it is stored, claimed under a lease by any instance, and its
// progress is committed batch by batch, so a job whose instance dies is
// taken over where it stood.
type BulkJob struct {
	ID        string
	OrgID     string
	Env       Environment
	Actor     string
	Kind      string
	Selection BulkSelection
	State     string
	Error     string
	// Total is how many accounts the selection had when the job was
	// confirmed; Done and Failed count accounts handled so far.
	Total  int64
	Done   int64
	Failed int64
	// Cursor is the internal id of the last account handled of a filter
	// selection (accounts are taken in id order) or, while a page of them
	// is being deleted, that page (see bulkPage); or the number of ids
	// handled of an id selection, as text.
	Cursor     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// Tenant returns the tenant the job acts in.
func (j *BulkJob) Tenant() Tenant { return Tenant{OrgID: j.OrgID, Env: j.Env} }

// Finished reports whether the job has reached a final state.
func (j *BulkJob) Finished() bool { return j.State == BulkSucceeded || j.State == BulkFailed }

// BulkJobStore keeps bulk jobs.
type BulkJobStore interface {
	// CreateBulkJob inserts a queued job.
	CreateBulkJob(ctx context.Context, j *BulkJob) error
	// BulkJob returns one of the tenant's jobs; ENOTFOUND.
	BulkJob(ctx context.Context, t Tenant, id string) (*BulkJob, error)
	// ClaimBulkJob takes the oldest queued job, or a running one whose
	// lease ran out, of any tenant c does not skip, for c.Owner until
	// c.Until(); ENOTFOUND when there is none.
	ClaimBulkJob(ctx context.Context, c Claim) (*BulkJob, error)
	// SaveBulkJob writes j's progress (Done, Failed, Cursor) and, when j's
	// state is final, its end (State, Error, FinishedAt); otherwise it
	// extends the lease to now+lease. ECONFLICT, writing nothing, when owner
	// no longer holds the job.
	SaveBulkJob(ctx context.Context, j *BulkJob, owner string, now time.Time, lease time.Duration) error
	// HeartbeatBulkJob extends owner's lease of the running job j to
	// until, and changes nothing else, so it may run while a batch of the
	// job does (it reads only j.ID). ECONFLICT when owner no longer holds
	// the job.
	HeartbeatBulkJob(ctx context.Context, j *BulkJob, owner string, until time.Time) error
}

// BulkService runs bulk jobs. Any instance may run a job (package worker
// claims it); one that dies holding it is taken over once its lease runs
// out, from the last saved batch. Each account is deleted through
// AccountService.Delete, so connections are revoked, secrets destroyed and
// an audit entry written exactly as for a single delete.
type BulkService struct {
	store    BulkJobStore
	Accounts *AccountService
	// Owner names this process in leases and Lease is how long a saved
	// batch holds the job: each batch's save renews it.
	Owner string
	Lease time.Duration
	// BatchSize is how many accounts are deleted between saves (100 when 0).
	BatchSize int
	Now       func() time.Time
	Logger    *slog.Logger
}

// NewBulkService returns the service over store, deleting accounts through
// accounts.
func NewBulkService(store BulkJobStore, accounts *AccountService) *BulkService {
	return &BulkService{store: store, Accounts: accounts}
}

func (s *BulkService) now() time.Time { return NowOf(s.Now) }

func (s *BulkService) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Claim leases the next queued (or abandoned) bulk job to the claimer, for
// package worker's loop.
func (s *BulkService) Claim(ctx context.Context, c Claim) (*BulkJob, error) {
	return s.store.ClaimBulkJob(ctx, c)
}

// Heartbeat renews the lease of a job this process runs, between its
// batches' saves: a batch slower than the lease (a short LINKD_JOB_LEASE,
// a slow database) then keeps its owner instead of being taken over and
// done again by another instance. Package worker's loop calls it every
// third of the lease.
func (s *BulkService) Heartbeat(ctx context.Context, j *BulkJob, until time.Time) error {
	return s.store.HeartbeatBulkJob(ctx, j, s.Owner, until)
}

// QueueDelete queues the deletion of the accounts sel selects (total of
// them when the user confirmed) in the tenant, for any instance to run.
func (s *BulkService) QueueDelete(ctx context.Context, t Tenant, actor string, sel BulkSelection, total int64) (*BulkJob, error) {
	j := &BulkJob{ID: NewID(), OrgID: t.OrgID, Env: t.Env, Actor: actor, Kind: BulkDelete,
		Selection: sel, State: BulkQueued, Total: total, CreatedAt: s.now()}
	if err := s.store.CreateBulkJob(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

// Run works through a claimed job batch by batch to its end, or until ctx
// ends (then it saves the progress for whoever claims the job next).
func (s *BulkService) Run(ctx context.Context, j *BulkJob) error {
	log := s.logger().With("job", j.ID, "org", j.OrgID, "env", j.Env)
	log.Info("bulk delete started", "total", j.Total, "done", j.Done)
	for ctx.Err() == nil {
		more, err := s.batch(ctx, j, log)
		if err != nil && ctx.Err() != nil {
			// Shutting down: keep the progress; the job resumes from it.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return s.store.SaveBulkJob(sctx, j, s.Owner, s.now(), s.Lease)
		}
		if ErrorCode(err) == ECONFLICT {
			return err // another instance took the job over
		}
		if err != nil {
			j.State, j.Error = BulkFailed, "The job stopped on an internal error; the accounts deleted so far stay deleted."
			log.Error("bulk delete failed", "err", err)
		} else if !more {
			j.State = BulkSucceeded
		}
		if j.Finished() {
			end := s.now()
			j.FinishedAt = &end
		}
		if err := s.store.SaveBulkJob(ctx, j, s.Owner, s.now(), s.Lease); err != nil {
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
// cursor; it reports whether any were left to do. The cursor moves past
// each account as it is handled, so a save after an interruption (ctx
// ended) neither counts an account twice nor skips one.
func (s *BulkService) batch(ctx context.Context, j *BulkJob, log *slog.Logger) (bool, error) {
	t := j.Tenant()
	size := cmp.Or(s.BatchSize, 100)
	del := func(accountID string) error {
		err := s.Accounts.DeleteCreatedBefore(ctx, t, j.Actor, accountID, j.Selection.CreatedBefore)
		switch ErrorCode(err) {
		case "", ENOTFOUND: // gone already counts as done
			j.Done++
		case EINTERNAL:
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
		end := min(pos+size, len(ids))
		for i, id := range ids[pos:end] {
			if err := del(id); err != nil {
				return true, err
			}
			j.Cursor = strconv.Itoa(pos + i + 1)
		}
		return end < len(ids), nil
	}
	// A filter selection lists its next page after the cursor; a page's
	// accounts are saved with the job before any is deleted, so that a
	// runner taking the job over after a crash mid-page deletes the same
	// accounts and counts those already gone, as an id selection does.
	// Listing again would not show them, and they would go uncounted.
	p, ok := decodeBulkPage(j.Cursor)
	hasNext := true
	if !ok {
		f := j.Selection.Filter()
		f.Cursor, f.Limit, f.SkipTotal = j.Cursor, size, true
		page, err := s.Accounts.List(ctx, t, f)
		if err != nil {
			return true, err
		}
		if len(page.Accounts) == 0 {
			return page.HasNext, nil
		}
		hasNext = page.HasNext
		p = bulkPage{Last: page.Accounts[len(page.Accounts)-1].ID}
		for _, a := range page.Accounts {
			p.Accounts = append(p.Accounts, a.AccountID)
		}
		j.Cursor = p.encode()
		if err := s.store.SaveBulkJob(ctx, j, s.Owner, s.now(), s.Lease); err != nil {
			return true, err
		}
	}
	for i, id := range p.Accounts {
		if err := del(id); err != nil {
			p.Accounts = p.Accounts[i:]
			j.Cursor = p.encode()
			return true, err
		}
	}
	j.Cursor = p.Last
	return hasNext, nil
}

// bulkPage is a filter selection's page of accounts being deleted, kept in
// the job's cursor until the page is done: the account ids left to delete,
// and the internal id of the page's last account, the cursor after it.
type bulkPage struct {
	Last     string   `json:"last"`
	Accounts []string `json:"accounts"`
}

func (p bulkPage) encode() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// decodeBulkPage reads a cursor holding a page; a plain cursor (an
// internal id, never JSON) holds none.
func decodeBulkPage(cursor string) (bulkPage, bool) {
	var p bulkPage
	if !strings.HasPrefix(cursor, "{") || json.Unmarshal([]byte(cursor), &p) != nil {
		return bulkPage{}, false
	}
	return p, true
}
