package linkd

import (
	"context"
	"time"
)

// Import job states. A job is "uploading" while its file arrives, then
// "queued" until an instance claims it, "running" while batches commit, and
// ends "succeeded", "failed" or "cancelled".
const (
	ImportUploading = "uploading"
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportSucceeded = "succeeded"
	ImportFailed    = "failed"
	ImportCancelled = "cancelled"
)

// Import modes.
const (
	ImportCreate = "create" // an existing id is a row error
	ImportUpsert = "upsert" // an existing account is merged like PUT
)

// AuditAccountImport records an import job's outcome.
const AuditAccountImport = "linked_account.import"

// ImportChunkSize is how the uploaded file is cut for storage: the file lives
// in the database, so any instance can run (or resume) the job.
const ImportChunkSize = 1 << 20

// ImportJob is a bulk import of linked accounts from a CSV file. Its counts
// are committed with each batch of rows, so they are exact at every moment,
// also after a crash.
type ImportJob struct {
	ID       string
	OrgID    string
	Env      Environment
	Actor    string
	FileName string
	Mode     string
	DryRun   bool
	State    string
	Error    string // why a job failed

	SizeBytes int64
	Columns   []string // the header, as validated at upload
	RowsTotal int64
	// Options say how the file was read at upload; a resumed job reads the
	// stored file with them again.
	Options ImportOptions

	// Offset is the byte offset in the file just past the last row of the
	// last committed batch: where a resumed job continues.
	Offset        int64
	RowsProcessed int64
	Created       int64
	Updated       int64
	Unchanged     int64
	Failed        int64

	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Tenant returns the tenant the job imports into.
func (j *ImportJob) Tenant() Tenant { return Tenant{OrgID: j.OrgID, Env: j.Env} }

// Finished reports whether the job has reached a final state.
func (j *ImportJob) Finished() bool {
	switch j.State {
	case ImportSucceeded, ImportFailed, ImportCancelled:
		return true
	}
	return false
}

// Import delimiters: how ImportOptions names the character between fields.
const (
	DelimComma     = "comma"
	DelimSemicolon = "semicolon"
	DelimTab       = "tab"
	DelimPipe      = "pipe"
)

// Import encodings: what an upload was decoded from. The stored file is
// always UTF-8; the encoding is kept to say what the upload was.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252"
)

// Import column targets besides udf.<key>: a mapping sends each column of the
// header to one of them.
const (
	ColumnAccountID = "linked_account_id"
	ColumnName      = "name"
	ColumnIgnore    = "ignore"
)

// ImportOptions say how an import's file is read: the delimiter (detected
// from the header unless asked for), the encoding the upload was in, and
// what each column of the header holds (header -> linked_account_id, name,
// udf.<key> or ignore). The mapping is complete once the upload is
// accepted: every column, whether the user mapped it or linkd matched it, so
// a job reads its file the same way whenever and wherever it runs.
type ImportOptions struct {
	Delimiter string
	Encoding  string
	Mapping   map[string]string
}

// ImportRowError explains why one row was not imported. Row is the CSV
// record number with the header as row 1, as spreadsheets number rows.
type ImportRowError struct {
	Row       int64
	Column    string
	AccountID string
	Message   string
}

// ImportBatch is what one batch of rows does: accounts to insert and to
// update, rows refused, and the job's progress after it.
type ImportBatch struct {
	Creates []*LinkedAccount
	Updates []*LinkedAccount
	Errors  []ImportRowError
	// Offset is where the job stands after this batch (absolute); the
	// counts below are added to the job's totals.
	Offset    int64
	Processed int64
	Created   int64
	Updated   int64
	Unchanged int64
	Failed    int64
}

// ImportBatchFunc decides a batch given the current state of the accounts
// its rows name (absent ones are missing from cur). It runs inside the
// store's transaction and may run again if the store retries.
type ImportBatchFunc func(cur map[string]*LinkedAccount) (*ImportBatch, error)

// ImportStore keeps import jobs, their files and row errors.
type ImportStore interface {
	// CreateImportJob inserts a job in state uploading.
	CreateImportJob(ctx context.Context, j *ImportJob) error
	// AppendImportChunk stores the seq-th piece of the job's file.
	AppendImportChunk(ctx context.Context, t Tenant, jobID string, seq int, data []byte) error
	// QueueImportJob ends the upload: it records the file's size, header,
	// row count and the options it was read with, and makes the job
	// claimable.
	QueueImportJob(ctx context.Context, t Tenant, jobID string, size, rows int64, columns []string, opts ImportOptions) error
	// DeleteImportJob removes a job and its file (an upload that was refused).
	DeleteImportJob(ctx context.Context, t Tenant, jobID string) error
	// ImportJob returns one job; ENOTFOUND when the tenant has no such job.
	ImportJob(ctx context.Context, t Tenant, jobID string) (*ImportJob, error)
	// ListImportJobs lists the tenant's jobs, newest first.
	ListImportJobs(ctx context.Context, t Tenant, limit int, cursor string) (jobs []*ImportJob, next string, err error)
	// CancelImportJob stops a queued or running job; rows already committed
	// stay. ev, given the cancelled job, returns the audit entry written in
	// the same transaction. EINVALID when the job has finished.
	CancelImportJob(ctx context.Context, t Tenant, jobID string, now time.Time, ev func(*ImportJob) *AuditEntry) (*ImportJob, error)
	// ClaimImportJob takes the oldest queued job, or a running one whose
	// holder's lease ran out (its instance died), of any tenant c does not
	// skip, for c.Owner until c.Until(). ENOTFOUND when there is none.
	ClaimImportJob(ctx context.Context, c Claim) (*ImportJob, error)
	// ImportChunk returns the seq-th piece of a job's file.
	ImportChunk(ctx context.Context, jobID string, seq int) ([]byte, error)
	// CommitImportBatch runs fn on the accounts named by accountIDs and
	// writes its batch with the job's progress in one transaction, and
	// extends the lease. It returns ECONFLICT, writing nothing, when owner no
	// longer holds the job or the job is no longer running (cancelled). The
	// returned job has the new totals.
	CommitImportBatch(ctx context.Context, j *ImportJob, owner string, accountIDs []string, fn ImportBatchFunc, now time.Time, lease time.Duration) (*ImportJob, error)
	// RestartImportJob resets a job's progress to the start (a dry run that
	// was interrupted: it wrote nothing and holds no state to resume from).
	RestartImportJob(ctx context.Context, j *ImportJob, owner string) (*ImportJob, error)
	// FinishImportJob sets a final state with its audit entry and deletes
	// the stored file. ECONFLICT when owner no longer holds the job.
	FinishImportJob(ctx context.Context, j *ImportJob, owner, state, message string, ev *AuditEntry, now time.Time) (*ImportJob, error)
	// PurgeStaleUploads deletes jobs still uploading that were created
	// before the given time, with their chunks: uploads whose instance died
	// mid-request. It returns how many it removed.
	PurgeStaleUploads(ctx context.Context, before time.Time) (int, error)
	// ImportErrors returns row errors after row afterRow, in row order.
	ImportErrors(ctx context.Context, t Tenant, jobID string, afterRow int64, limit int) ([]ImportRowError, error)
}
