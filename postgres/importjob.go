package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/linkd-dev/linkd"
)

var _ linkd.ImportStore = (*Store)(nil)

const importJobColumns = `id, org_id, env, actor, file_name, mode, dry_run, state, error, size_bytes, columns, rows_total,
	byte_offset, rows_processed, created, updated, unchanged, failed, created_at, updated_at, started_at, finished_at,
	delimiter, encoding, mapping`

func scanImportJob(row pgx.Row) (*linkd.ImportJob, error) {
	var j linkd.ImportJob
	var columns, mapping []byte
	err := row.Scan(&j.ID, &j.OrgID, &j.Env, &j.Actor, &j.FileName, &j.Mode, &j.DryRun, &j.State, &j.Error, &j.SizeBytes, &columns, &j.RowsTotal,
		&j.Offset, &j.RowsProcessed, &j.Created, &j.Updated, &j.Unchanged, &j.Failed, &j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.FinishedAt,
		&j.Options.Delimiter, &j.Options.Encoding, &mapping)
	if err != nil {
		return nil, err
	}
	// Decoded as the sqlite store decodes its text column, so that an
	// empty header is an empty slice and a null one nil on both engines.
	if err := json.Unmarshal(columns, &j.Columns); err != nil {
		return nil, fmt.Errorf("import job %s columns: %w", j.ID, err)
	}
	if err := json.Unmarshal(mapping, &j.Options.Mapping); err != nil {
		return nil, fmt.Errorf("import job %s mapping: %w", j.ID, err)
	}
	return &j, nil
}

func importJobNotFound(id string) error {
	return linkd.ImportJobNotFound(id)
}

// CreateImportJob implements linkd.ImportStore.
func (s *Store) CreateImportJob(ctx context.Context, j *linkd.ImportJob) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO import_jobs (id, org_id, env, actor, file_name, mode, dry_run, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, j.ID, j.OrgID, j.Env, j.Actor, j.FileName, j.Mode, j.DryRun, linkd.ImportUploading, j.CreatedAt)
	if err != nil {
		return fmt.Errorf("create import job: %w", err)
	}
	return nil
}

// AppendImportChunk implements linkd.ImportStore. The job's row is share
// locked, so chunks of one upload may arrive in parallel while the upload
// cannot be queued or deleted under them.
func (s *Store) AppendImportChunk(ctx context.Context, t linkd.Tenant, jobID string, seq int, data []byte) error {
	if !isID(jobID) || !isID(t.OrgID) {
		return importJobNotFound(jobID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM import_jobs WHERE id = $1 AND org_id = $2 AND env = $3 FOR SHARE`, jobID, t.OrgID, t.Env).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return importJobNotFound(jobID)
		} else if err != nil {
			return fmt.Errorf("append import chunk: %w", err)
		}
		if state != linkd.ImportUploading {
			return linkd.Errorf(linkd.ECONFLICT, "import job %s is %s, not uploading", jobID, state)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO import_chunks (job_id, seq, data) VALUES ($1, $2, $3)`, jobID, seq, data); err != nil {
			return fmt.Errorf("append import chunk: %w", err)
		}
		return nil
	})
}

// QueueImportJob implements linkd.ImportStore.
func (s *Store) QueueImportJob(ctx context.Context, t linkd.Tenant, jobID string, size, rows int64, columns []string, opts linkd.ImportOptions) error {
	if !isID(jobID) || !isID(t.OrgID) {
		return importJobNotFound(jobID)
	}
	cols, err := json.Marshal(columns)
	if err != nil {
		return err
	}
	mapping, err := marshalMapping(opts.Mapping)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE import_jobs SET state = $1, size_bytes = $2, rows_total = $3, columns = $4, updated_at = $5,
		delimiter = $10, encoding = $11, mapping = $12 WHERE id = $6 AND org_id = $7 AND env = $8 AND state = $9`, linkd.ImportQueued, size, rows, string(cols), time.Now(),
		jobID, t.OrgID, t.Env, linkd.ImportUploading, cmp.Or(opts.Delimiter, linkd.DelimComma), cmp.Or(opts.Encoding, linkd.EncodingUTF8), mapping)
	if err != nil {
		return fmt.Errorf("queue import job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return importJobNotFound(jobID)
	}
	return nil
}

// DeleteImportJob implements linkd.ImportStore.
func (s *Store) DeleteImportJob(ctx context.Context, t linkd.Tenant, jobID string) error {
	if !isID(jobID) || !isID(t.OrgID) {
		return importJobNotFound(jobID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM import_jobs WHERE id = $1 AND org_id = $2 AND env = $3`, jobID, t.OrgID, t.Env)
		if err != nil {
			return fmt.Errorf("delete import job: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return importJobNotFound(jobID)
		}
		for _, q := range []string{`DELETE FROM import_chunks WHERE job_id = $1`, `DELETE FROM import_errors WHERE job_id = $1`} {
			if _, err := tx.Exec(ctx, q, jobID); err != nil {
				return fmt.Errorf("delete import job: %w", err)
			}
		}
		return nil
	})
}

// ImportJob implements linkd.ImportStore.
func (s *Store) ImportJob(ctx context.Context, t linkd.Tenant, jobID string) (*linkd.ImportJob, error) {
	if !isID(jobID) || !isID(t.OrgID) {
		return nil, importJobNotFound(jobID)
	}
	j, err := scanImportJob(s.pool.QueryRow(ctx, `SELECT `+importJobColumns+` FROM import_jobs WHERE id = $1 AND org_id = $2 AND env = $3`, jobID, t.OrgID, t.Env))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, importJobNotFound(jobID)
	} else if err != nil {
		return nil, fmt.Errorf("import job: %w", err)
	}
	return j, nil
}

// ListImportJobs implements linkd.ImportStore.
func (s *Store) ListImportJobs(ctx context.Context, t linkd.Tenant, limit int, cursor string) ([]*linkd.ImportJob, string, error) {
	limit = max(1, min(limit, linkd.MaxPageLimit))
	if cursor != "" && !isID(cursor) {
		return nil, "", linkd.BadCursor(cursor)
	}
	if !isID(t.OrgID) {
		return nil, "", nil
	}
	where, args := `org_id = $1 AND env = $2 AND state <> $3`, []any{t.OrgID, t.Env, linkd.ImportUploading}
	if cursor != "" {
		where += ` AND id < $4`
		args = append(args, cursor)
	}
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT %s FROM import_jobs WHERE %s ORDER BY id DESC LIMIT $%d`, importJobColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list import jobs: %w", err)
	}
	defer rows.Close()
	var out []*linkd.ImportJob
	for rows.Next() {
		j, err := scanImportJob(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list import jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list import jobs: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// CancelImportJob implements linkd.ImportStore. The job's row is locked
// first, so a cancel and a batch or finish of the job take turns: a batch
// that follows a cancel finds the job cancelled and writes nothing.
func (s *Store) CancelImportJob(ctx context.Context, t linkd.Tenant, jobID string, now time.Time, ev func(*linkd.ImportJob) *linkd.AuditEntry) (*linkd.ImportJob, error) {
	if !isID(jobID) || !isID(t.OrgID) {
		return nil, importJobNotFound(jobID)
	}
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		j, err := scanImportJob(tx.QueryRow(ctx, `SELECT `+importJobColumns+` FROM import_jobs WHERE id = $1 AND org_id = $2 AND env = $3 AND state <> $4
			FOR UPDATE`, jobID, t.OrgID, t.Env, linkd.ImportUploading))
		if errors.Is(err, pgx.ErrNoRows) {
			return importJobNotFound(jobID)
		} else if err != nil {
			return err
		}
		if j.Finished() {
			return linkd.ImportJobFinished(jobID, j.State)
		}
		out, err = scanImportJob(tx.QueryRow(ctx, `UPDATE import_jobs SET state = $1, lease_owner = NULL, lease_until = NULL, updated_at = $2, finished_at = $2
			WHERE id = $3 RETURNING `+importJobColumns, linkd.ImportCancelled, now, jobID))
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `DELETE FROM import_chunks WHERE job_id = $1`, jobID); err != nil {
			return err
		}
		if ev != nil {
			return insertAudit(ctx, tx, t, ev(out))
		}
		return nil
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("cancel import job: %w", err)
	}
	return out, nil
}

// ClaimImportJob implements linkd.ImportStore. SKIP LOCKED makes instances
// that claim at once take different jobs instead of queueing on the same
// row: each locks the first candidate nobody else has locked.
func (s *Store) ClaimImportJob(ctx context.Context, c linkd.Claim) (*linkd.ImportJob, error) {
	j, err := scanImportJob(s.pool.QueryRow(ctx, `UPDATE import_jobs SET state = $1, lease_owner = $2, lease_until = $3, updated_at = $4,
			started_at = coalesce(started_at, $4)
		WHERE id = (SELECT id FROM import_jobs WHERE (state = $5 OR (state = $1 AND lease_until < $4))
			AND NOT (org_id || '|' || env = ANY($6)) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+importJobColumns,
		linkd.ImportRunning, c.Owner, c.Until(), c.Now, linkd.ImportQueued, c.SkipKeys()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no import job to run")
	} else if err != nil {
		return nil, fmt.Errorf("claim import job: %w", err)
	}
	return j, nil
}

// ImportChunk implements linkd.ImportStore.
func (s *Store) ImportChunk(ctx context.Context, jobID string, seq int) ([]byte, error) {
	notFound := linkd.Errorf(linkd.ENOTFOUND, "import job %s has no chunk %d", jobID, seq)
	if !isID(jobID) {
		return nil, notFound
	}
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM import_chunks WHERE job_id = $1 AND seq = $2`, jobID, seq).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("import chunk: %w", err)
	}
	return data, nil
}

// holdJob locks the job's row until tx ends and checks that owner still
// holds the running job. The lock orders the batch against a concurrent
// cancel, claim or finish: whichever comes second sees the first's result.
func holdJob(ctx context.Context, tx pgx.Tx, jobID, owner string) error {
	if !isID(jobID) {
		return importJobNotFound(jobID)
	}
	var state string
	var holder *string
	err := tx.QueryRow(ctx, `SELECT state, lease_owner FROM import_jobs WHERE id = $1 FOR UPDATE`, jobID).Scan(&state, &holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return importJobNotFound(jobID)
	} else if err != nil {
		return err
	}
	held := ""
	if holder != nil {
		held = *holder
	}
	if state != linkd.ImportRunning || held != owner {
		return linkd.Errorf(linkd.ECONFLICT, "import job %s is %s and held by %q, not %q", jobID, state, held, owner)
	}
	return nil
}

// CommitImportBatch implements linkd.ImportStore. The accounts the batch
// names are locked while fn decides, so an API write to one of them waits
// for the batch (or the batch for it). An account that does not exist yet
// cannot be locked: when an API create inserts it first, the batch's COPY
// fails on the unique account id and the whole transaction runs again, so
// fn sees the new row, as PutAccount does.
func (s *Store) CommitImportBatch(ctx context.Context, j *linkd.ImportJob, owner string, accountIDs []string, fn linkd.ImportBatchFunc, now time.Time, lease time.Duration) (*linkd.ImportJob, error) {
	t := j.Tenant()
	var out *linkd.ImportJob
	var inserted int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out, inserted = nil, 0
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		if err := s.growSearchPending(ctx, tx); err != nil {
			return err
		}
		cur, err := lockAccounts(ctx, tx, t, accountIDs)
		if err != nil {
			return err
		}
		b, err := fn(cur)
		if err != nil {
			return err
		}
		if err := copyAccounts(ctx, tx, t, b.Creates); err != nil {
			return err
		}
		inserted = int64(len(b.Creates))
		if err := updateAccounts(ctx, tx, t, b.Updates); err != nil {
			return err
		}
		if err := copyImportErrors(ctx, tx, j.ID, b.Errors); err != nil {
			return err
		}
		out, err = scanImportJob(tx.QueryRow(ctx, `UPDATE import_jobs SET byte_offset = $1, rows_processed = rows_processed + $2,
			created = created + $3, updated = updated + $4, unchanged = unchanged + $5, failed = failed + $6, lease_until = $7, updated_at = $8
			WHERE id = $9 RETURNING `+importJobColumns,
			b.Offset, b.Processed, b.Created, b.Updated, b.Unchanged, b.Failed, now.Add(lease), now, j.ID))
		return err
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("commit import batch: %w", err)
	}
	if inserted > 0 && passesMark(out.Created-inserted, out.Created) {
		s.analyzeAccounts(ctx)
	}
	return out, nil
}

// passesMark reports whether an import that had created before accounts
// and now has after passed one of 50,000, 500,000, 5,000,000, … on the way.
func passesMark(before, after int64) bool {
	for m := int64(50_000); m <= after; m *= 10 {
		if before < m {
			return true
		}
	}
	return false
}

// analyzeAccounts refreshes the planner's statistics of linked_accounts
// while an import grows a tenant. lockAccounts depends on them: while they
// show the tenant as small (a fresh database not yet analyzed, or a new
// tenant the last ANALYZE did not see), the planner reads every row of the
// tenant and filters them instead of looking the batch's ids up in the
// index, so each batch costs more than the last; autovacuum may take a
// minute or more to notice. ANALYZE samples a fixed number of rows, so at
// marks ten times apart its cost stays small against the import's.
// It runs outside the batch's transaction, not to hold its lock there, and
// is best effort: a batch that committed must not fail for it.
func (s *Store) analyzeAccounts(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s.pool.Exec(ctx, `ANALYZE linked_accounts (org_id, env, account_id, search_trgm)`)
	s.pool.Exec(ctx, `ANALYZE account_udf`)
}

// lockAccounts reads and locks the tenant's accounts with the given ids.
// It is planned for the ids it is given (QueryExecModeExec, no prepared
// statement): a generic plan knows nothing of the array and may test each
// row of the tenant against each of its elements, while a custom one looks
// them up in the unique index, or at worst hashes them (see
// analyzeAccounts). The index returns them, and so locks them, in account
// id order, which keeps batches that share ids from deadlocking.
func lockAccounts(ctx context.Context, tx pgx.Tx, t linkd.Tenant, ids []string) (map[string]*linkd.LinkedAccount, error) {
	out := make(map[string]*linkd.LinkedAccount, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+accountColumns+` FROM linked_accounts WHERE org_id = $1 AND env = $2 AND account_id = ANY($3) FOR UPDATE`,
		pgx.QueryExecModeExec, t.OrgID, t.Env, ids)
	if err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("find accounts: %w", err)
		}
		out[a.AccountID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find accounts: %w", err)
	}
	return out, nil
}

// accountCopyColumns are the columns copyAccounts fills, in its order.
var accountCopyColumns = []string{"org_id", "env", "id", "account_id", "name", "udf", "data_key", "credentials", "import_job", "created_at", "updated_at", "search", "search_trgm"}

// copyAccounts inserts accounts with COPY, the fastest way into PostgreSQL,
// and counts them per slot. pgx copies in the binary format, in which a
// jsonb value is a version byte and the JSON text: the UDF column goes in
// as linkd.EncodeUDF made it, parsed once by the server, with no staging.
func copyAccounts(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accts []*linkd.LinkedAccount) error {
	if len(accts) == 0 {
		return nil
	}
	org, err := uuidOf(t.OrgID)
	if err != nil {
		return err
	}
	var slots [countSlots]int64
	var jobID string // the accounts of a batch name the same job
	var job pgtype.UUID
	i := 0
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"linked_accounts"}, accountCopyColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(accts) {
			return nil, nil
		}
		a := accts[i]
		i++
		slots[countSlot(a.AccountID)]++
		id, err := uuidOf(a.ID)
		if err != nil {
			return nil, err
		}
		if a.ImportJob != jobID {
			jobID, job = a.ImportJob, pgtype.UUID{}
			if jobID != "" {
				if job, err = uuidOf(jobID); err != nil {
					return nil, err
				}
			}
		}
		search := linkd.SearchText(a.AccountID, a.Name)
		return []any{org, string(t.Env), id, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials,
			job, a.CreatedAt, a.UpdatedAt, search, linkd.TrigramText(search)}, nil
	}))
	if isConstraint(err, "linked_accounts_account_id_key") && !repeatsID(accts) {
		// A concurrent create took one of the ids after lockAccounts read.
		return fmt.Errorf("insert accounts: %w: %w", errRetry, err)
	} else if err != nil {
		return fmt.Errorf("insert accounts: %w", err)
	}
	// One statement bumps every slot, in slot order, so that concurrent
	// batches lock the count rows in the same order.
	var keys []int32
	var deltas []int64
	for slot, n := range slots {
		if n > 0 {
			keys, deltas = append(keys, int32(slot)), append(deltas, n)
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO account_counts (org_id, env, slot, n) SELECT $1, $2, s.slot, s.n FROM unnest($3::integer[], $4::bigint[]) AS s (slot, n)
		ON CONFLICT (org_id, env, slot) DO UPDATE SET n = account_counts.n + excluded.n`, t.OrgID, t.Env, keys, deltas)
	if err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	return nil
}

// repeatsID reports whether accts holds an account id twice: a batch that
// conflicts with itself would conflict again on every retry.
func repeatsID(accts []*linkd.LinkedAccount) bool {
	seen := make(map[string]bool, len(accts))
	for _, a := range accts {
		if seen[a.AccountID] {
			return true
		}
		seen[a.AccountID] = true
	}
	return false
}

// updateAccounts writes many accounts in one statement, joining the table
// to arrays of the new values.
func updateAccounts(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accts []*linkd.LinkedAccount) error {
	if len(accts) == 0 {
		return nil
	}
	// An UPDATE … FROM changes each row once, whichever of its matches it
	// takes; written one by one, the last state of an account would win.
	// Keep just that one.
	last := make(map[string]int, len(accts))
	for i, a := range accts {
		last[a.ID] = i
	}
	n := len(last)
	ids, names, udfs, search, trgm := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	keys, creds := make([][]byte, 0, n), make([][]byte, 0, n)
	jobs, updated := make([]*string, 0, n), make([]time.Time, 0, n)
	for i, a := range accts {
		if last[a.ID] != i {
			continue
		}
		ids, names, udfs = append(ids, a.ID), append(names, a.Name), append(udfs, string(linkd.EncodeUDF(a.UDF)))
		text := linkd.SearchText(a.AccountID, a.Name)
		search, trgm = append(search, text), append(trgm, linkd.TrigramText(text))
		keys, creds = append(keys, a.DataKey), append(creds, a.Credentials)
		jobs, updated = append(jobs, nullID(a.ImportJob)), append(updated, a.UpdatedAt)
	}
	_, err := tx.Exec(ctx, `UPDATE linked_accounts AS a SET name = u.name, udf = u.udf::jsonb, data_key = u.data_key, credentials = u.credentials,
			import_job = u.import_job, updated_at = u.updated_at, search = u.search, search_trgm = u.search_trgm
		FROM unnest($3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::uuid[], $9::timestamptz[], $10::text[], $11::text[])
			AS u (id, name, udf, data_key, credentials, import_job, updated_at, search, search_trgm)
		WHERE a.org_id = $1 AND a.env = $2 AND a.id = u.id`,
		t.OrgID, t.Env, ids, names, udfs, keys, creds, jobs, updated, search, trgm)
	if err != nil {
		return fmt.Errorf("update accounts: %w", err)
	}
	return nil
}

var importErrorColumns = []string{"job_id", "row", "col", "account_id", "message"}

func copyImportErrors(ctx context.Context, tx pgx.Tx, jobID string, errs []linkd.ImportRowError) error {
	if len(errs) == 0 {
		return nil
	}
	job, err := uuidOf(jobID)
	if err != nil {
		return err
	}
	i := 0
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"import_errors"}, importErrorColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(errs) {
			return nil, nil
		}
		e := errs[i]
		i++
		return []any{job, e.Row, e.Column, e.AccountID, e.Message}, nil
	}))
	if err != nil {
		return fmt.Errorf("insert import errors: %w", err)
	}
	return nil
}

// uuidOf parses an id for COPY. COPY sends values in their binary form, and
// pgx encodes a string as a uuid only by a slow fallback (a failed binary
// encode, then a text parse), which cost a third of an import's time.
func uuidOf(id string) (pgtype.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return pgtype.UUID{}, fmt.Errorf("id %q: %w", id, err)
	}
	return pgtype.UUID{Bytes: u, Valid: true}, nil
}

// RestartImportJob implements linkd.ImportStore.
func (s *Store) RestartImportJob(ctx context.Context, j *linkd.ImportJob, owner string) (*linkd.ImportJob, error) {
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_errors WHERE job_id = $1`, j.ID); err != nil {
			return err
		}
		var err error
		out, err = scanImportJob(tx.QueryRow(ctx, `UPDATE import_jobs SET byte_offset = 0, rows_processed = 0, created = 0, updated = 0,
			unchanged = 0, failed = 0 WHERE id = $1 RETURNING `+importJobColumns, j.ID))
		return err
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("restart import job: %w", err)
	}
	return out, nil
}

// FinishImportJob implements linkd.ImportStore.
func (s *Store) FinishImportJob(ctx context.Context, j *linkd.ImportJob, owner, state, message string, ev *linkd.AuditEntry, now time.Time) (*linkd.ImportJob, error) {
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		var err error
		out, err = scanImportJob(tx.QueryRow(ctx, `UPDATE import_jobs SET state = $1, error = $2, lease_owner = NULL, lease_until = NULL,
			updated_at = $3, finished_at = $3 WHERE id = $4 RETURNING `+importJobColumns, state, message, now, j.ID))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_chunks WHERE job_id = $1`, j.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, j.Tenant(), ev)
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("finish import job: %w", err)
	}
	s.cleanSearchPending(ctx)
	return out, nil
}

// ImportErrors implements linkd.ImportStore.
func (s *Store) ImportErrors(ctx context.Context, t linkd.Tenant, jobID string, afterRow int64, limit int) ([]linkd.ImportRowError, error) {
	if _, err := s.ImportJob(ctx, t, jobID); err != nil {
		return nil, err
	}
	// A negative limit means none, as in SQLite; PostgreSQL reads a NULL
	// limit as LIMIT ALL.
	var lim *int
	if limit >= 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT row, col, account_id, message FROM import_errors WHERE job_id = $1 AND row > $2 ORDER BY row LIMIT $3`,
		jobID, afterRow, lim)
	if err != nil {
		return nil, fmt.Errorf("import errors: %w", err)
	}
	defer rows.Close()
	var out []linkd.ImportRowError
	for rows.Next() {
		var e linkd.ImportRowError
		if err := rows.Scan(&e.Row, &e.Column, &e.AccountID, &e.Message); err != nil {
			return nil, fmt.Errorf("import errors: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("import errors: %w", err)
	}
	return out, nil
}

// PurgeStaleUploads implements linkd.ImportStore.
func (s *Store) PurgeStaleUploads(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM import_chunks WHERE job_id IN
			(SELECT id FROM import_jobs WHERE state = $1 AND created_at < $2)`, linkd.ImportUploading, before); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM import_jobs WHERE state = $1 AND created_at < $2`, linkd.ImportUploading, before)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge stale uploads: %w", err)
	}
	return int(n), nil
}

// marshalMapping writes a column mapping as its JSON object; no mapping is
// the empty object, so both engines read back the same.
func marshalMapping(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}
