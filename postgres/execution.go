package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.ExecutionStore = (*Store)(nil)

const execColumns = `org_id, env, id, account_pk, account_id, slug, config_id, workflow_id, workflow_name, event_id, event_name,
	source, type, instance_tag, status, payload, return_value, error, step, attempt, next_at, deadline, rerun_of, lease_owner,
	created_at, updated_at, started_at, finished_at`

func scanExecution(r pgx.Row) (*linkd.Execution, error) {
	e := &linkd.Execution{}
	var payload, ret []byte
	var owner *string
	var started, finished *time.Time
	err := r.Scan(&e.Tenant.OrgID, &e.Tenant.Env, &e.ID, &e.AccountPK, &e.AccountID, &e.Slug, &e.ConfigID, &e.WorkflowID,
		&e.WorkflowName, &e.EventID, &e.EventName, &e.Source, &e.Type, &e.InstanceTag, &e.Status, &payload, &ret, &e.Error,
		&e.Step, &e.Attempt, &e.NextAt, &e.Deadline, &e.RerunOf, &owner, &e.CreatedAt, &e.UpdatedAt, &started, &finished)
	if err != nil {
		return nil, err
	}
	e.Payload = json.RawMessage(payload)
	if ret != nil {
		e.ReturnValue = json.RawMessage(ret)
	}
	if owner != nil {
		e.LeaseOwner = *owner
	}
	e.NextAt, e.Deadline, e.CreatedAt, e.UpdatedAt = e.NextAt.UTC(), e.Deadline.UTC(), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	e.StartedAt, e.FinishedAt = utcPtr(started), utcPtr(finished)
	return e, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nullJSON(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	return string(v)
}

func jsonOr(v json.RawMessage) string {
	if len(v) == 0 {
		return "null"
	}
	return string(v)
}

// QueueExecutions implements linkd.ExecutionStore. The account's row is
// locked, so a delete of the account cannot pass the insert unseen.
func (s *Store) QueueExecutions(ctx context.Context, t linkd.Tenant, accountID string, execs []*linkd.Execution, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) {
		return accountNotFound(t, accountID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		for _, e := range execs {
			e.AccountPK = acct.ID
		}
		if err := insertExecutions(ctx, tx, t, execs); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// insertExecutions queues runs whose AccountPK is set, in one batch.
func insertExecutions(ctx context.Context, tx pgx.Tx, t linkd.Tenant, execs []*linkd.Execution) error {
	if len(execs) == 0 {
		return nil
	}
	markWork(tx, linkd.WorkExecutions)
	b := &pgx.Batch{}
	for _, e := range execs {
		queueExecution(b, t, e)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue executions: %w", err)
	}
	return nil
}

// queueExecution adds the insert of e to b; the caller marks the work.
func queueExecution(b *pgx.Batch, t linkd.Tenant, e *linkd.Execution) {
	b.Queue(`INSERT INTO executions (`+execColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
			$16, $17, $18, $19, $20, $21, $22, $23, NULL, $24, $25, NULL, NULL)`,
		t.OrgID, t.Env, e.ID, e.AccountPK, e.AccountID, e.Slug, e.ConfigID, e.WorkflowID, e.WorkflowName, e.EventID, e.EventName,
		e.Source, e.Type, e.InstanceTag, e.Status, string(e.Payload), nullJSON(e.ReturnValue), e.Error, e.Step, e.Attempt,
		e.NextAt, e.Deadline, e.RerunOf, e.CreatedAt, e.UpdatedAt)
}

// ClaimExecutions implements linkd.ExecutionStore: one statement leases
// the due rows, SKIP LOCKED so instances claiming at once never take the
// same run.
func (s *Store) ClaimExecutions(ctx context.Context, c linkd.Claim) ([]*linkd.Execution, error) {
	rows, err := s.pool.Query(ctx, `UPDATE executions SET lease_owner = $1, lease_until = $2
		WHERE (org_id, env, id) IN (SELECT org_id, env, id FROM executions
			WHERE status IN ('RUNNING', 'STOPPING') AND next_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
			AND NOT (org_id::text || '|' || env = ANY($5))
			ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING `+execColumns, c.Owner, c.Until(), c.Now, c.Limit, c.SkipKeys())
	if err != nil {
		return nil, fmt.Errorf("claim executions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Execution, error) { return scanExecution(r) })
	if err != nil {
		return nil, fmt.Errorf("claim executions: %w", err)
	}
	// RETURNING keeps no order: oldest due first, as promised.
	slices.SortStableFunc(out, func(a, b *linkd.Execution) int { return a.NextAt.Compare(b.NextAt) })
	return out, nil
}

// ClaimExecution implements linkd.ExecutionStore.
func (s *Store) ClaimExecution(ctx context.Context, t linkd.Tenant, id string, c linkd.Claim) (*linkd.Execution, error) {
	if !isID(t.OrgID) || !isID(id) {
		return nil, linkd.ExecutionNotFound(id)
	}
	e, err := scanExecution(s.pool.QueryRow(ctx, `UPDATE executions SET lease_owner = $1, lease_until = $2
		WHERE org_id = $3 AND env = $4 AND id = $5 AND status IN ('RUNNING', 'STOPPING') AND (lease_until IS NULL OR lease_until < $6)
		RETURNING `+execColumns, c.Owner, c.Until(), t.OrgID, t.Env, id, c.Now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.ExecutionNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("claim execution: %w", err)
	}
	return e, nil
}

// HeartbeatExecution implements linkd.ExecutionStore.
func (s *Store) HeartbeatExecution(ctx context.Context, e *linkd.Execution, owner string, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE executions SET lease_until = $1 WHERE org_id = $2 AND env = $3 AND id = $4 AND lease_owner = $5`,
		until, e.Tenant.OrgID, e.Tenant.Env, e.ID, owner)
	if err != nil {
		return fmt.Errorf("heartbeat execution: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return linkd.Errorf(linkd.ECONFLICT, "execution %s: lease lost", e.ID)
	}
	return nil
}

// AdvanceExecution implements linkd.ExecutionStore.
func (s *Store) AdvanceExecution(ctx context.Context, owner string, e *linkd.Execution, node *linkd.ExecutionNode, hold bool, ev *linkd.AuditEntry) (string, error) {
	t := e.Tenant
	var status string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE executions SET
			status = CASE WHEN status = 'STOPPING' AND $1 = 'RUNNING' THEN 'STOPPING' ELSE $1 END,
			next_at = CASE WHEN status = 'STOPPING' AND $1 = 'RUNNING' THEN $9::timestamptz ELSE $4::timestamptz END,
			step = $2, attempt = $3, return_value = $5, error = $6, started_at = $7, finished_at = $8, updated_at = $9,
			lease_owner = CASE WHEN $10 THEN lease_owner END, lease_until = CASE WHEN $10 THEN lease_until END
			WHERE org_id = $11 AND env = $12 AND id = $13 AND lease_owner = $14 RETURNING status`,
			e.Status, e.Step, e.Attempt, e.NextAt, nullJSON(e.ReturnValue), e.Error, e.StartedAt, e.FinishedAt, e.UpdatedAt,
			hold, t.OrgID, t.Env, e.ID, owner).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return linkd.Errorf(linkd.ECONFLICT, "execution %s: lease lost", e.ID)
		} else if err != nil {
			return fmt.Errorf("advance execution: %w", err)
		}
		if node != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO execution_nodes (org_id, env, execution_id, idx, step_id, type, status, attempts,
				max_attempts, input, output, error, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
				ON CONFLICT (org_id, env, execution_id, idx) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
				input = excluded.input, output = excluded.output, error = excluded.error, updated_at = excluded.updated_at`,
				t.OrgID, t.Env, e.ID, node.Index, node.StepID, node.Type, node.Status, node.Attempts, node.MaxAttempts,
				jsonOr(node.Input), jsonOr(node.Output), node.Error, node.StartedAt, node.UpdatedAt); err != nil {
				return fmt.Errorf("record node: %w", err)
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
	return status, err
}

// Execution implements linkd.ExecutionStore.
func (s *Store) Execution(ctx context.Context, t linkd.Tenant, id string) (*linkd.Execution, error) {
	if !isID(t.OrgID) || !isID(id) {
		return nil, linkd.ExecutionNotFound(id)
	}
	e, err := scanExecution(s.pool.QueryRow(ctx, `SELECT `+execColumns+` FROM executions WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.ExecutionNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("execution %s: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT idx, step_id, type, status, attempts, max_attempts, input, output, error, started_at, updated_at
		FROM execution_nodes WHERE org_id = $1 AND env = $2 AND execution_id = $3 ORDER BY idx`, t.OrgID, t.Env, id)
	if err != nil {
		return nil, fmt.Errorf("execution nodes: %w", err)
	}
	e.Nodes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.ExecutionNode, error) {
		n := &linkd.ExecutionNode{}
		var in, out []byte
		if err := r.Scan(&n.Index, &n.StepID, &n.Type, &n.Status, &n.Attempts, &n.MaxAttempts, &in, &out, &n.Error, &n.StartedAt, &n.UpdatedAt); err != nil {
			return nil, err
		}
		n.Input, n.Output, n.StartedAt, n.UpdatedAt = json.RawMessage(in), json.RawMessage(out), n.StartedAt.UTC(), n.UpdatedAt.UTC()
		return n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("execution nodes: %w", err)
	}
	return e, nil
}

// ListExecutions implements linkd.ExecutionStore.
func (s *Store) ListExecutions(ctx context.Context, t linkd.Tenant, f linkd.ExecutionFilter) (*linkd.ExecutionPage, error) {
	page := &linkd.ExecutionPage{}
	if !isID(t.OrgID) || (f.ID != "" && !isID(f.ID)) {
		return page, nil
	}
	where := []string{"org_id = $1", "env = $2"}
	args := []any{t.OrgID, t.Env}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.AccountID != "" {
		add("account_id = ?", f.AccountID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.WorkflowID != "" {
		add("workflow_id = ?", f.WorkflowID)
	}
	if f.ID != "" {
		add("id = ?", f.ID)
	}
	if len(f.Slugs) > 0 {
		add("slug = ANY(?)", f.Slugs)
	}
	if f.From != nil {
		add("created_at >= ?", *f.From)
	}
	if f.To != nil {
		add("created_at < ?", *f.To)
	}
	cond := strings.Join(where, " AND ")
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM executions WHERE `+cond, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("count executions: %w", err)
	}
	limit, offset := f.Bounds()
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	n := len(args)
	rows, err := s.pool.Query(ctx, `SELECT `+execColumns+` FROM executions WHERE `+cond+` ORDER BY created_at `+order+`, id `+order+
		` LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	page.Executions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Execution, error) { return scanExecution(r) })
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return page, nil
}

// StopExecution implements linkd.ExecutionStore.
func (s *Store) StopExecution(ctx context.Context, t linkd.Tenant, id string, now time.Time, fn linkd.StopFunc) (*linkd.Execution, error) {
	if !isID(t.OrgID) || !isID(id) {
		return nil, linkd.ExecutionNotFound(id)
	}
	var e *linkd.Execution
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		e, err = scanExecution(tx.QueryRow(ctx, `SELECT `+execColumns+` FROM executions WHERE org_id = $1 AND env = $2 AND id = $3 FOR UPDATE`,
			t.OrgID, t.Env, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return linkd.ExecutionNotFound(id)
		} else if err != nil {
			return err
		}
		if linkd.ExecFinished(e.Status) {
			return nil
		}
		var until *time.Time
		if err := tx.QueryRow(ctx, `SELECT lease_until FROM executions WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id).Scan(&until); err != nil {
			return err
		}
		leased := until != nil && until.After(now)
		status, ev, err := fn(e, leased)
		if err != nil {
			return err
		}
		e.Status = status
		var finished *time.Time
		if linkd.ExecFinished(status) {
			at := linkd.StoreTime(now)
			finished, e.FinishedAt = &at, &at
		}
		if _, err := tx.Exec(ctx, `UPDATE executions SET status = $1, finished_at = $2, updated_at = $3 WHERE org_id = $4 AND env = $5 AND id = $6`,
			status, finished, now, t.OrgID, t.Env, id); err != nil {
			return err
		}
		if linkd.ExecFinished(status) {
			if _, err := tx.Exec(ctx, `UPDATE execution_nodes SET status = $1 WHERE org_id = $2 AND env = $3 AND execution_id = $4 AND status IN ($5, $6)`,
				linkd.NodeStopped, t.OrgID, t.Env, id, linkd.NodeWaiting, linkd.NodeReady); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// deleteAccountExecutions removes the runs of an account, with their
// payloads, inputs and outputs, in the account's delete transaction.
func deleteAccountExecutions(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountPK string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM execution_nodes n USING executions e WHERE e.org_id = $1 AND e.env = $2 AND e.account_pk = $3
		AND n.org_id = e.org_id AND n.env = e.env AND n.execution_id = e.id`, t.OrgID, t.Env, accountPK); err != nil {
		return fmt.Errorf("delete executions: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM executions WHERE org_id = $1 AND env = $2 AND account_pk = $3`, t.OrgID, t.Env, accountPK); err != nil {
		return fmt.Errorf("delete executions: %w", err)
	}
	return nil
}

// ExecutionQueue implements linkd.ExecutionStore.
func (s *Store) ExecutionQueue(ctx context.Context, now time.Time) (linkd.ExecutionQueueStats, error) {
	var q linkd.ExecutionQueueStats
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE next_at <= $1 AND (lease_until IS NULL OR lease_until < $1)),
		count(*) FILTER (WHERE lease_until >= $1),
		count(*) FILTER (WHERE next_at > $1 AND (lease_until IS NULL OR lease_until < $1)),
		min(next_at) FILTER (WHERE next_at <= $1 AND (lease_until IS NULL OR lease_until < $1))
		FROM executions WHERE status IN ('RUNNING', 'STOPPING')`, now).Scan(&q.Due, &q.Running, &q.Retrying, &oldest)
	if err != nil {
		return q, fmt.Errorf("execution queue: %w", err)
	}
	if oldest != nil {
		q.OldestDue = oldest.UTC()
	}
	return q, nil
}

// PurgeExecutions implements linkd.ExecutionStore, a batch per statement.
func (s *Store) PurgeExecutions(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.pool.QueryRow(ctx, `WITH del AS (
				DELETE FROM executions WHERE (org_id, env, id) IN (SELECT org_id, env, id FROM executions
					WHERE finished_at IS NOT NULL AND finished_at < $1 LIMIT 500 FOR UPDATE SKIP LOCKED)
				RETURNING org_id, env, id),
			nodes AS (DELETE FROM execution_nodes n USING del WHERE n.org_id = del.org_id AND n.env = del.env AND n.execution_id = del.id)
			SELECT count(*) FROM del`, before).Scan(&n)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge executions: %w", err)
		}
		if n < 500 {
			return total, nil
		}
	}
}
