package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.BulkJobStore = (*Store)(nil)

const bulkJobColumns = `id, org_id, env, actor, kind, selection, state, error, total, done, failed, cursor, created_at, updated_at, finished_at`

func scanBulkJob(row interface{ Scan(...any) error }) (*linkd.BulkJob, error) {
	var j linkd.BulkJob
	var sel string
	var created, updated int64
	var finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.OrgID, &j.Env, &j.Actor, &j.Kind, &sel, &j.State, &j.Error, &j.Total, &j.Done, &j.Failed, &j.Cursor,
		&created, &updated, &finished); err != nil {
		return nil, err
	}
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromMicros(created), fromMicros(updated), fromNullMicros(finished)
	if err := json.Unmarshal([]byte(sel), &j.Selection); err != nil {
		return nil, fmt.Errorf("bulk job %s: selection: %w", j.ID, err)
	}
	return &j, nil
}

// CreateBulkJob implements linkd.BulkJobStore.
func (s *Store) CreateBulkJob(ctx context.Context, j *linkd.BulkJob) error {
	sel, err := json.Marshal(j.Selection)
	if err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO bulk_jobs (id, org_id, env, actor, kind, selection, state, total, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.OrgID, j.Env, j.Actor, j.Kind, string(sel), j.State, j.Total, micros(j.CreatedAt), micros(j.CreatedAt))
	if err != nil {
		return fmt.Errorf("create bulk job: %w", err)
	}
	j.UpdatedAt = j.CreatedAt
	return nil
}

// BulkJob implements linkd.BulkJobStore.
func (s *Store) BulkJob(ctx context.Context, t linkd.Tenant, id string) (*linkd.BulkJob, error) {
	j, err := scanBulkJob(s.r.QueryRowContext(ctx, `SELECT `+bulkJobColumns+` FROM bulk_jobs WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.BulkJobNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("bulk job: %w", err)
	}
	return j, nil
}

// ClaimBulkJob implements linkd.BulkJobStore.
func (s *Store) ClaimBulkJob(ctx context.Context, c linkd.Claim) (*linkd.BulkJob, error) {
	var j *linkd.BulkJob
	now := micros(c.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		j, err = scanBulkJob(tx.QueryRowContext(ctx, `UPDATE bulk_jobs SET state = ?, lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE id = (SELECT id FROM bulk_jobs WHERE (state = ? OR (state = ? AND lease_until < ?)) AND `+skipTenants+` ORDER BY id LIMIT 1)
			RETURNING `+bulkJobColumns, linkd.BulkRunning, c.Owner, micros(c.Until()), now, linkd.BulkQueued, linkd.BulkRunning, now, skipJSON(c)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no bulk job to run")
	} else if err != nil {
		return nil, fmt.Errorf("claim bulk job: %w", err)
	}
	return j, nil
}

// HeartbeatBulkJob implements linkd.BulkJobStore.
func (s *Store) HeartbeatBulkJob(ctx context.Context, j *linkd.BulkJob, owner string, until time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE bulk_jobs SET lease_until = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		micros(until), j.ID, linkd.BulkRunning, owner)
	if err != nil {
		return fmt.Errorf("heartbeat bulk job: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return linkd.BulkJobLost(j.ID, owner)
	}
	return nil
}

// SaveBulkJob implements linkd.BulkJobStore.
func (s *Store) SaveBulkJob(ctx context.Context, j *linkd.BulkJob, owner string, now time.Time, lease time.Duration) error {
	var until, holder any
	if !j.Finished() {
		until, holder = micros(now.Add(lease)), owner
	}
	res, err := s.write.ExecContext(ctx, `UPDATE bulk_jobs SET done = ?, failed = ?, cursor = ?, state = ?, error = ?, finished_at = ?,
		lease_owner = ?, lease_until = ?, updated_at = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
		j.Done, j.Failed, j.Cursor, j.State, j.Error, nullMicros(j.FinishedAt), holder, until, micros(now), j.ID, linkd.BulkRunning, owner)
	if err != nil {
		return fmt.Errorf("save bulk job: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return linkd.BulkJobLost(j.ID, owner)
	}
	j.UpdatedAt = now
	return nil
}
