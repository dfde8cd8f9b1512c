package linkd

import (
	"context"
	"time"
)

// Audit actions.
const (
	AuditAccountCreate = "linked_account.create"
	AuditAccountUpdate = "linked_account.update"
	AuditAccountDelete = "linked_account.delete"
)

// AuditEntry records one change to a tenant's data. Fields names what changed
// and never holds values: the audit log outlives deleted accounts, so it must
// not keep their data or secrets.
type AuditEntry struct {
	ID        string // time-ordered
	Time      time.Time
	Actor     string // API key id, or "cli:<user>" and the like
	Action    string
	AccountID string
	Fields    []string
	// Details holds facts about the change that are not account fields
	// (an import's file name and counts). Never secrets.
	Details map[string]any
	// Events are what the change announces to the tenant's webhook
	// endpoints: the store writes them, and a delivery to each endpoint
	// that receives them (Webhook.Receives), in the change's transaction.
	Events []*Event
	// Executions are workflow runs the change starts (a connection's
	// lifecycle triggers): the store queues them in the change's
	// transaction, for the account they name (AccountPK set).
	Executions []*Execution
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	AccountID string
	Limit     int
	Cursor    string // continue after the entry with this ID
}

// AuditStore reads the audit log. Entries of changes are written by the
// stores that change data, inside the same transaction.
type AuditStore interface {
	ListAudit(ctx context.Context, t Tenant, f AuditFilter) (entries []*AuditEntry, next string, err error)
	// AppendAudit records an event that changes no data, such as a read of
	// a connection's credentials.
	AppendAudit(ctx context.Context, t Tenant, ev *AuditEntry) error
}
