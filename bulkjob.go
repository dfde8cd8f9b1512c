package linkd

import (
	"context"
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
	// selection (accounts are taken in id order), or the number of ids
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
	// lease ran out, of any tenant, for owner until now+lease; ENOTFOUND
	// when there is none.
	ClaimBulkJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*BulkJob, error)
	// SaveBulkJob writes j's progress (Done, Failed, Cursor) and, when j's
	// state is final, its end (State, Error, FinishedAt); otherwise it
	// extends the lease to now+lease. ECONFLICT, writing nothing, when owner
	// no longer holds the job.
	SaveBulkJob(ctx context.Context, j *BulkJob, owner string, now time.Time, lease time.Duration) error
}
