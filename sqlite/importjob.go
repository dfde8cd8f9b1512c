package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

const importJobColumns = `id, org_id, env, actor, file_name, mode, dry_run, state, error, size_bytes, columns, rows_total,
	byte_offset, rows_processed, created, updated, unchanged, failed, created_at, updated_at, started_at, finished_at,
	delimiter, encoding, mapping`

func scanImportJob(row interface{ Scan(...any) error }) (*linkd.ImportJob, error) {
	var j linkd.ImportJob
	var columns, mapping string
	var created, updated int64
	var started, finished sql.NullInt64
	err := row.Scan(&j.ID, &j.OrgID, &j.Env, &j.Actor, &j.FileName, &j.Mode, &j.DryRun, &j.State, &j.Error, &j.SizeBytes, &columns, &j.RowsTotal,
		&j.Offset, &j.RowsProcessed, &j.Created, &j.Updated, &j.Unchanged, &j.Failed, &created, &updated, &started, &finished,
		&j.Options.Delimiter, &j.Options.Encoding, &mapping)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(columns), &j.Columns); err != nil {
		return nil, fmt.Errorf("import job %s columns: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(mapping), &j.Options.Mapping); err != nil {
		return nil, fmt.Errorf("import job %s mapping: %w", j.ID, err)
	}
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	j.StartedAt, j.FinishedAt = fromNullMicros(started), fromNullMicros(finished)
	return &j, nil
}

func importJobNotFound(id string) error {
	return linkd.ImportJobNotFound(id)
}

// CreateImportJob implements linkd.ImportStore.
func (s *Store) CreateImportJob(ctx context.Context, j *linkd.ImportJob) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO import_jobs (id, org_id, env, actor, file_name, mode, dry_run, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.OrgID, j.Env, j.Actor, j.FileName, j.Mode, j.DryRun, linkd.ImportUploading,
		micros(j.CreatedAt), micros(j.CreatedAt))
	if err != nil {
		return fmt.Errorf("create import job: %w", err)
	}
	return nil
}

// AppendImportChunk implements linkd.ImportStore.
func (s *Store) AppendImportChunk(ctx context.Context, t linkd.Tenant, jobID string, seq int, data []byte) error {
	return s.tx(ctx, func(tx *wtx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM import_jobs WHERE id = ? AND org_id = ? AND env = ?`, jobID, t.OrgID, t.Env).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return importJobNotFound(jobID)
		} else if err != nil {
			return fmt.Errorf("append import chunk: %w", err)
		}
		if state != linkd.ImportUploading {
			return linkd.Errorf(linkd.ECONFLICT, "import job %s is %s, not uploading", jobID, state)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_chunks (job_id, seq, data) VALUES (?, ?, ?)`, jobID, seq, data); err != nil {
			return fmt.Errorf("append import chunk: %w", err)
		}
		return nil
	})
}

// QueueImportJob implements linkd.ImportStore.
func (s *Store) QueueImportJob(ctx context.Context, t linkd.Tenant, jobID string, size, rows int64, columns []string, opts linkd.ImportOptions) error {
	cols, err := json.Marshal(columns)
	if err != nil {
		return err
	}
	mapping, err := marshalMapping(opts.Mapping)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE import_jobs SET state = ?, size_bytes = ?, rows_total = ?, columns = ?, updated_at = ?,
		delimiter = ?, encoding = ?, mapping = ? WHERE id = ? AND org_id = ? AND env = ? AND state = ?`, linkd.ImportQueued, size, rows, string(cols), micros(time.Now()),
		cmp.Or(opts.Delimiter, linkd.DelimComma), cmp.Or(opts.Encoding, linkd.EncodingUTF8), mapping, jobID, t.OrgID, t.Env, linkd.ImportUploading)
	if err != nil {
		return fmt.Errorf("queue import job: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return importJobNotFound(jobID)
	}
	return nil
}

// DeleteImportJob implements linkd.ImportStore.
func (s *Store) DeleteImportJob(ctx context.Context, t linkd.Tenant, jobID string) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM import_jobs WHERE id = ? AND org_id = ? AND env = ?`, jobID, t.OrgID, t.Env)
		if err != nil {
			return fmt.Errorf("delete import job: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return importJobNotFound(jobID)
		}
		for _, q := range []string{`DELETE FROM import_chunks WHERE job_id = ?`, `DELETE FROM import_errors WHERE job_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, jobID); err != nil {
				return fmt.Errorf("delete import job: %w", err)
			}
		}
		return nil
	})
}

// ImportJob implements linkd.ImportStore.
func (s *Store) ImportJob(ctx context.Context, t linkd.Tenant, jobID string) (*linkd.ImportJob, error) {
	j, err := scanImportJob(s.r.QueryRowContext(ctx, `SELECT `+importJobColumns+` FROM import_jobs WHERE id = ? AND org_id = ? AND env = ?`, jobID, t.OrgID, t.Env))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, importJobNotFound(jobID)
	} else if err != nil {
		return nil, fmt.Errorf("import job: %w", err)
	}
	return j, nil
}

// ListImportJobs implements linkd.ImportStore.
func (s *Store) ListImportJobs(ctx context.Context, t linkd.Tenant, limit int, cursor string) ([]*linkd.ImportJob, string, error) {
	limit = max(1, min(limit, linkd.MaxPageLimit))
	where, args := `org_id = ? AND env = ? AND state <> ?`, []any{t.OrgID, t.Env, linkd.ImportUploading}
	if cursor != "" {
		where += ` AND id < ?`
		args = append(args, cursor)
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+importJobColumns+` FROM import_jobs WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list import jobs: %w", err)
	}
	defer rows.Close()
	var out []*linkd.ImportJob
	for rows.Next() {
		j, err := scanImportJob(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// CancelImportJob implements linkd.ImportStore.
func (s *Store) CancelImportJob(ctx context.Context, t linkd.Tenant, jobID string, now time.Time, ev func(*linkd.ImportJob) *linkd.AuditEntry) (*linkd.ImportJob, error) {
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx *wtx) error {
		j, err := scanImportJob(tx.QueryRowContext(ctx, `SELECT `+importJobColumns+` FROM import_jobs WHERE id = ? AND org_id = ? AND env = ? AND state <> ?`,
			jobID, t.OrgID, t.Env, linkd.ImportUploading))
		if errors.Is(err, sql.ErrNoRows) {
			return importJobNotFound(jobID)
		} else if err != nil {
			return err
		}
		if j.Finished() {
			return linkd.ImportJobFinished(jobID, j.State)
		}
		out, err = scanImportJob(tx.QueryRowContext(ctx, `UPDATE import_jobs SET state = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?, finished_at = ?
			WHERE id = ? RETURNING `+importJobColumns, linkd.ImportCancelled, micros(now), micros(now), jobID))
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE job_id = ?`, jobID); err != nil {
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

// ClaimImportJob implements linkd.ImportStore.
func (s *Store) ClaimImportJob(ctx context.Context, c linkd.Claim) (*linkd.ImportJob, error) {
	now := micros(c.Now)
	j, err := scanImportJob(s.write.QueryRowContext(ctx, `UPDATE import_jobs SET state = ?, lease_owner = ?, lease_until = ?, updated_at = ?,
			started_at = coalesce(started_at, ?)
		WHERE id = (SELECT id FROM import_jobs WHERE (state = ? OR (state = ? AND lease_until < ?))
			AND `+skipTenants+` ORDER BY id LIMIT 1)
		RETURNING `+importJobColumns,
		linkd.ImportRunning, c.Owner, micros(c.Until()), now, now, linkd.ImportQueued, linkd.ImportRunning, now, skipJSON(c)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no import job to run")
	} else if err != nil {
		return nil, fmt.Errorf("claim import job: %w", err)
	}
	return j, nil
}

// ImportChunk implements linkd.ImportStore.
func (s *Store) ImportChunk(ctx context.Context, jobID string, seq int) ([]byte, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM import_chunks WHERE job_id = ? AND seq = ?`, jobID, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "import job %s has no chunk %d", jobID, seq)
	} else if err != nil {
		return nil, fmt.Errorf("import chunk: %w", err)
	}
	return data, nil
}

// holdJob checks, inside tx, that owner still holds the running job.
func holdJob(ctx context.Context, tx *wtx, jobID, owner string) error {
	var state string
	var holder sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT state, lease_owner FROM import_jobs WHERE id = ?`, jobID).Scan(&state, &holder)
	if errors.Is(err, sql.ErrNoRows) {
		return importJobNotFound(jobID)
	} else if err != nil {
		return err
	}
	if state != linkd.ImportRunning || holder.String != owner {
		return linkd.Errorf(linkd.ECONFLICT, "import job %s is %s and held by %q, not %q", jobID, state, holder.String, owner)
	}
	return nil
}

// maxVars bounds the placeholders of one statement.
const maxVars = 30000

// CommitImportBatch implements linkd.ImportStore. The single writer
// connection serialises it with every other write, so the accounts fn sees
// cannot change before the batch commits.
func (s *Store) CommitImportBatch(ctx context.Context, j *linkd.ImportJob, owner string, accountIDs []string, fn linkd.ImportBatchFunc, now time.Time, lease time.Duration) (*linkd.ImportJob, error) {
	t := j.Tenant()
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx *wtx) error {
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		cur, err := findAccounts(ctx, tx, t, accountIDs)
		if err != nil {
			return err
		}
		b, err := fn(cur)
		if err != nil {
			return err
		}
		if err := s.insertAccounts(ctx, tx, t, b.Creates); err != nil {
			return err
		}
		for _, a := range b.Updates {
			if err := updateAccount(ctx, tx, t, a); err != nil {
				return err
			}
		}
		if err := insertImportErrors(ctx, tx, j.ID, b.Errors); err != nil {
			return err
		}
		out, err = scanImportJob(tx.QueryRowContext(ctx, `UPDATE import_jobs SET byte_offset = ?, rows_processed = rows_processed + ?,
			created = created + ?, updated = updated + ?, unchanged = unchanged + ?, failed = failed + ?, lease_until = ?, updated_at = ?
			WHERE id = ? RETURNING `+importJobColumns,
			b.Offset, b.Processed, b.Created, b.Updated, b.Unchanged, b.Failed, micros(now.Add(lease)), micros(now), j.ID))
		return err
	})
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("commit import batch: %w", err)
	}
	return out, nil
}

// findAccounts reads the tenant's accounts with the given ids.
func findAccounts(ctx context.Context, tx *wtx, t linkd.Tenant, ids []string) (map[string]*linkd.LinkedAccount, error) {
	out := make(map[string]*linkd.LinkedAccount, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, 0, n+2)
		args = append(args, t.OrgID, t.Env)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+accountColumns+` FROM linked_accounts INDEXED BY linked_accounts_account_id
			WHERE org_id = ? AND env = ? AND account_id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", n), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("find accounts: %w", err)
		}
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[a.AccountID] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// insertRows is how many accounts one prepared multi-row INSERT writes: an
// importer's whole batch (csvio.DefaultBatchSize), because FTS5 writes its
// pending trigrams out as a new segment at the start of every statement
// that follows one that indexed (its savepoint), and 200-row statements
// made ten small segments (and their merges) per batch.
const insertRows = 2000

const accountCols = 13

func insertAccountsSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_rowid) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// insertAccounts inserts many accounts with multi-row statements and counts
// them per slot.
func (s *Store) insertAccounts(ctx context.Context, tx *wtx, t linkd.Tenant, accts []*linkd.LinkedAccount) error {
	slots := map[int]int{}
	args := make([]any, 0, insertRows*accountCols)
	var full *sql.Stmt
	// The index rows, at the accounts' keys (searchkey.go).
	ids := make([]string, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	rowids, err := searchRowids(ctx, tx, ids)
	if err != nil {
		return err
	}
	for len(accts) > 0 {
		n := min(len(accts), insertRows)
		args = args[:0]
		for i, a := range accts[:n] {
			args = append(args, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, linkd.EncodeUDF(a.UDF), a.DataKey, a.Credentials,
				nullString(a.ImportJob), micros(a.CreatedAt), micros(a.UpdatedAt), linkd.SearchText(a.AccountID, a.Name), rowids[i])
			slots[countSlot(a.AccountID)]++
		}
		var err error
		if n == insertRows {
			if full == nil {
				full = tx.StmtContext(ctx, s.insertMany)
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertAccountsSQL(n), args...)
		}
		if err != nil {
			return fmt.Errorf("insert accounts: %w", err)
		}
		accts, rowids = accts[n:], rowids[n:]
	}
	for slot, n := range slots {
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, env, slot) DO UPDATE SET n = n + excluded.n`, t.OrgID, t.Env, slot, n); err != nil {
			return fmt.Errorf("count accounts: %w", err)
		}
	}
	return nil
}

func insertImportErrors(ctx context.Context, tx *wtx, jobID string, errs []linkd.ImportRowError) error {
	const cols = 5
	for len(errs) > 0 {
		n := min(len(errs), maxVars/cols)
		var b strings.Builder
		b.WriteString(`INSERT INTO import_errors (job_id, row, col, account_id, message) VALUES `)
		args := make([]any, 0, n*cols)
		for i, e := range errs[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?)")
			args = append(args, jobID, e.Row, e.Column, e.AccountID, e.Message)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert import errors: %w", err)
		}
		errs = errs[n:]
	}
	return nil
}

// RestartImportJob implements linkd.ImportStore.
func (s *Store) RestartImportJob(ctx context.Context, j *linkd.ImportJob, owner string) (*linkd.ImportJob, error) {
	var out *linkd.ImportJob
	err := s.tx(ctx, func(tx *wtx) error {
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_errors WHERE job_id = ?`, j.ID); err != nil {
			return err
		}
		var err error
		out, err = scanImportJob(tx.QueryRowContext(ctx, `UPDATE import_jobs SET byte_offset = 0, rows_processed = 0, created = 0, updated = 0,
			unchanged = 0, failed = 0 WHERE id = ? RETURNING `+importJobColumns, j.ID))
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
	err := s.tx(ctx, func(tx *wtx) error {
		if err := holdJob(ctx, tx, j.ID, owner); err != nil {
			return err
		}
		var err error
		out, err = scanImportJob(tx.QueryRowContext(ctx, `UPDATE import_jobs SET state = ?, error = ?, lease_owner = NULL, lease_until = NULL,
			updated_at = ?, finished_at = ? WHERE id = ? RETURNING `+importJobColumns, state, message, micros(now), micros(now), j.ID))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE job_id = ?`, j.ID); err != nil {
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
	if !out.DryRun {
		s.importFinished(ctx, out)
	}
	return out, nil
}

// ImportErrors implements linkd.ImportStore.
func (s *Store) ImportErrors(ctx context.Context, t linkd.Tenant, jobID string, afterRow int64, limit int) ([]linkd.ImportRowError, error) {
	if _, err := s.ImportJob(ctx, t, jobID); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT row, col, account_id, message FROM import_errors WHERE job_id = ? AND row > ? ORDER BY row LIMIT ?`,
		jobID, afterRow, limit)
	if err != nil {
		return nil, fmt.Errorf("import errors: %w", err)
	}
	defer rows.Close()
	var out []linkd.ImportRowError
	for rows.Next() {
		var e linkd.ImportRowError
		if err := rows.Scan(&e.Row, &e.Column, &e.AccountID, &e.Message); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PurgeStaleUploads implements linkd.ImportStore.
func (s *Store) PurgeStaleUploads(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE job_id IN
			(SELECT id FROM import_jobs WHERE state = ? AND created_at < ?)`, linkd.ImportUploading, micros(before)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM import_jobs WHERE state = ? AND created_at < ?`, linkd.ImportUploading, micros(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
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
