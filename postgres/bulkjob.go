package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.BulkJobStore = (*Store)(nil)

const bulkJobColumns = `id, org_id, env, actor, kind, selection, state, error, total, done, failed, cursor, created_at, updated_at, finished_at`

func scanBulkJob(row pgx.Row) (*linkd.BulkJob, error) {
	var j linkd.BulkJob
	var sel []byte
	if err := row.Scan(&j.ID, &j.OrgID, &j.Env, &j.Actor, &j.Kind, &sel, &j.State, &j.Error, &j.Total, &j.Done, &j.Failed, &j.Cursor,
		&j.CreatedAt, &j.UpdatedAt, &j.FinishedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sel, &j.Selection); err != nil {
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
	_, err = s.pool.Exec(ctx, `INSERT INTO bulk_jobs (id, org_id, env, actor, kind, selection, state, total, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, j.ID, j.OrgID, j.Env, j.Actor, j.Kind, sel, j.State, j.Total, j.CreatedAt)
	if err != nil {
		return fmt.Errorf("create bulk job: %w", err)
	}
	j.UpdatedAt = j.CreatedAt
	return nil
}

// BulkJob implements linkd.BulkJobStore.
func (s *Store) BulkJob(ctx context.Context, t linkd.Tenant, id string) (*linkd.BulkJob, error) {
	notFound := linkd.BulkJobNotFound(id)
	if !isID(id) || !isID(t.OrgID) {
		return nil, notFound
	}
	j, err := scanBulkJob(s.pool.QueryRow(ctx, `SELECT `+bulkJobColumns+` FROM bulk_jobs WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("bulk job: %w", err)
	}
	return j, nil
}

// ClaimBulkJob implements linkd.BulkJobStore; SKIP LOCKED lets instances
// that claim at once take different jobs.
func (s *Store) ClaimBulkJob(ctx context.Context, c linkd.Claim) (*linkd.BulkJob, error) {
	j, err := scanBulkJob(s.pool.QueryRow(ctx, `UPDATE bulk_jobs SET state = $1, lease_owner = $2, lease_until = $3, updated_at = $4
		WHERE id = (SELECT id FROM bulk_jobs WHERE (state = $5 OR (state = $1 AND lease_until < $4))
			AND NOT (org_id || '|' || env = ANY($6)) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+bulkJobColumns, linkd.BulkRunning, c.Owner, c.Until(), c.Now, linkd.BulkQueued, c.SkipKeys()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "no bulk job to run")
	} else if err != nil {
		return nil, fmt.Errorf("claim bulk job: %w", err)
	}
	return j, nil
}

// HeartbeatBulkJob implements linkd.BulkJobStore.
func (s *Store) HeartbeatBulkJob(ctx context.Context, j *linkd.BulkJob, owner string, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE bulk_jobs SET lease_until = $1 WHERE id = $2 AND state = $3 AND lease_owner = $4`,
		until, j.ID, linkd.BulkRunning, owner)
	if err != nil {
		return fmt.Errorf("heartbeat bulk job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return linkd.BulkJobLost(j.ID, owner)
	}
	return nil
}

// SaveBulkJob implements linkd.BulkJobStore.
func (s *Store) SaveBulkJob(ctx context.Context, j *linkd.BulkJob, owner string, now time.Time, lease time.Duration) error {
	var until *time.Time
	var holder *string
	if !j.Finished() {
		u := now.Add(lease)
		until, holder = &u, &owner
	}
	tag, err := s.pool.Exec(ctx, `UPDATE bulk_jobs SET done = $1, failed = $2, cursor = $3, state = $4, error = $5, finished_at = $6,
		lease_owner = $7, lease_until = $8, updated_at = $9 WHERE id = $10 AND state = $11 AND lease_owner = $12`,
		j.Done, j.Failed, j.Cursor, j.State, j.Error, j.FinishedAt, holder, until, now, j.ID, linkd.BulkRunning, owner)
	if err != nil {
		return fmt.Errorf("save bulk job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return linkd.BulkJobLost(j.ID, owner)
	}
	j.UpdatedAt = now
	return nil
}
