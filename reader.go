package linkd

import (
	"context"
	"time"
)

// Reader is what the front ends (http, dashboard) may ask the store
// directly: lookups that change nothing. Every change goes through a
// service (Services), so that its rules, its audit entry and the events
// that will follow it are written once; a test in http checks by type that
// nothing the front ends are given can write.
type Reader interface {
	Ping(ctx context.Context) error

	Orgs(ctx context.Context) ([]*Org, error)
	OrgByID(ctx context.Context, id string) (*Org, error)
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	CountUsers(ctx context.Context, orgID string) (int, error)
	UserByID(ctx context.Context, orgID, id string) (*User, error)
	TenantSettings(ctx context.Context, t Tenant) (*TenantSettings, error)

	FindAccount(ctx context.Context, t Tenant, accountID string) (*LinkedAccount, error)
	ListAccounts(ctx context.Context, t Tenant, f AccountFilter) (*AccountPage, error)
	EachAccount(ctx context.Context, t Tenant, f AccountFilter, fn func(*LinkedAccount) error) error
	ListAudit(ctx context.Context, t Tenant, f AuditFilter) (entries []*AuditEntry, next string, err error)
	Connections(ctx context.Context, t Tenant, accountID string) (*LinkedAccount, []*Connection, error)
	Configs(ctx context.Context, t Tenant, accountID, slug string) (*LinkedAccount, []*AppConfig, error)
	AppSettings(ctx context.Context, t Tenant) (map[string]*AppSettings, error)

	SessionByHash(ctx context.Context, hash []byte, refresh bool) (*SessionToken, error)
	ConnectSessionByHash(ctx context.Context, hash []byte) (*ConnectSession, error)
	LatestConnectSession(ctx context.Context, t Tenant, accountID string, now time.Time) (*ConnectSession, error)
	AllowedOrigins(ctx context.Context, t Tenant) ([]string, error)

	ImportJob(ctx context.Context, t Tenant, jobID string) (*ImportJob, error)
	ListImportJobs(ctx context.Context, t Tenant, limit int, cursor string) (jobs []*ImportJob, next string, err error)
	ImportErrors(ctx context.Context, t Tenant, jobID string, afterRow int64, limit int) ([]ImportRowError, error)
	BulkJob(ctx context.Context, t Tenant, id string) (*BulkJob, error)

	CallStats(ctx context.Context, t Tenant, accountID string, now time.Time) (*CallStats, error)
	RecentCalls(ctx context.Context, t Tenant, accountID string, f CallFilter) ([]AppCall, error)

	AccountDeliveryReader

	Execution(ctx context.Context, t Tenant, id string) (*Execution, error)
	ListExecutions(ctx context.Context, t Tenant, f ExecutionFilter) (*ExecutionPage, error)
	EventDefs(ctx context.Context, t Tenant) ([]*EventDef, error)
	EventDef(ctx context.Context, t Tenant, key string, byName bool) (*EventDef, error)
}

// Every store is a Reader.
var _ Reader = Store(nil)
