package linkd

import (
	"context"
	"time"
)

// The background jobs other than webhooks and workflows (which report their
// own queues) wait in tables shared by every instance. Their backlog is read
// from the database, not kept in a process, so every instance reports the
// same figures and a stuck job shows even when the instance that should run
// it is gone.

// Job kinds of a JobBacklog.
const (
	JobImport     = "import"     // CSV imports queued, or running under an expired lease
	JobBulk       = "bulk"       // bulk deletes queued, or running under an expired lease
	JobRefresh    = "refresh"    // OAuth tokens past their expiry, not being refreshed
	JobRevocation = "revocation" // token revocations due, not being sent
)

// JobKinds lists every kind JobBacklogs reports, in a fixed order.
var JobKinds = []string{JobImport, JobBulk, JobRefresh, JobRevocation}

// MaxBacklogCount bounds the count of a JobBacklog: past it the backlog is
// reported as that many, so a scrape never reads an unbounded range.
const MaxBacklogCount = 10000

// JobBacklog is the work of one kind that no worker holds although it is
// due, across tenants.
type JobBacklog struct {
	Kind    string
	Waiting int // at most MaxBacklogCount
	// Since is when the longest-waiting item became due (queued, its
	// lease ran out, its token expired); zero when none waits.
	Since time.Time
}

// JobBacklogStore reports the backlogs for metrics and alerts. It reads
// across tenants because it serves the operator, not a tenant: it returns
// counts and times, never a tenant's data.
type JobBacklogStore interface {
	// JobBacklogs returns one JobBacklog per kind of JobKinds, in order.
	JobBacklogs(ctx context.Context, now time.Time) ([]JobBacklog, error)
}
