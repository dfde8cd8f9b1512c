package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.ExecutionStore = (*Store)(nil)

const execColumns = `org_id, env, id, account_pk, account_id, slug, config_id, workflow_id, workflow_name, event_id, event_name,
	source, type, instance_tag, status, payload, return_value, error, step, attempt, next_at, deadline, rerun_of, lease_owner,
	created_at, updated_at, started_at, finished_at`

type scanner interface{ Scan(dest ...any) error }

func scanExecution(r scanner) (*linkd.Execution, error) {
	e := &linkd.Execution{}
	var payload string
	var ret, owner sql.NullString
	var next, deadline, created, updated int64
	var started, finished sql.NullInt64
	err := r.Scan(&e.Tenant.OrgID, &e.Tenant.Env, &e.ID, &e.AccountPK, &e.AccountID, &e.Slug, &e.ConfigID, &e.WorkflowID,
		&e.WorkflowName, &e.EventID, &e.EventName, &e.Source, &e.Type, &e.InstanceTag, &e.Status, &payload, &ret, &e.Error,
		&e.Step, &e.Attempt, &next, &deadline, &e.RerunOf, &owner, &created, &updated, &started, &finished)
	if err != nil {
		return nil, err
	}
	e.Payload = json.RawMessage(payload)
	if ret.Valid {
		e.ReturnValue = json.RawMessage(ret.String)
	}
	e.LeaseOwner = owner.String
	e.NextAt, e.Deadline, e.CreatedAt, e.UpdatedAt = fromMicros(next), fromMicros(deadline), fromMicros(created), fromMicros(updated)
	e.StartedAt, e.FinishedAt = fromNullMicros(started), fromNullMicros(finished)
	return e, nil
}

func nullJSON(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	return string(v)
}

// QueueExecutions implements linkd.ExecutionStore.
func (s *Store) QueueExecutions(ctx context.Context, t linkd.Tenant, accountID string, execs []*linkd.Execution, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
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

// insertExecutions queues runs whose AccountPK is set.
func insertExecutions(ctx context.Context, tx *wtx, t linkd.Tenant, execs []*linkd.Execution) error {
	if len(execs) > 0 {
		markWork(tx, linkd.WorkExecutions)
	}
	for _, e := range execs {
		_, err := tx.ExecContext(ctx, `INSERT INTO executions (`+execColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL)`,
			t.OrgID, t.Env, e.ID, e.AccountPK, e.AccountID, e.Slug, e.ConfigID, e.WorkflowID, e.WorkflowName, e.EventID, e.EventName,
			e.Source, e.Type, e.InstanceTag, e.Status, string(e.Payload), nullJSON(e.ReturnValue), e.Error, e.Step, e.Attempt,
			micros(e.NextAt), micros(e.Deadline), e.RerunOf, micros(e.CreatedAt), micros(e.UpdatedAt))
		if err != nil {
			return fmt.Errorf("queue execution: %w", err)
		}
	}
	return nil
}

// ClaimExecutions implements linkd.ExecutionStore. A read first checks
// that anything is due, so an idle runner does not take the write lock.
func (s *Store) ClaimExecutions(ctx context.Context, c linkd.Claim) ([]*linkd.Execution, error) {
	var due int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM executions INDEXED BY executions_due
		WHERE status IN ('RUNNING', 'STOPPING') AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?) LIMIT 1)`,
		micros(c.Now), micros(c.Now)).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("claim executions: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	var out []*linkd.Execution
	err = s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE executions SET lease_owner = ?, lease_until = ?
			WHERE (org_id, env, id) IN (SELECT org_id, env, id FROM executions INDEXED BY executions_due
				WHERE status IN ('RUNNING', 'STOPPING') AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?) AND `+skipTenants+`
				ORDER BY next_at LIMIT ?)
			RETURNING `+execColumns, c.Owner, micros(c.Until()), micros(c.Now), micros(c.Now), skipJSON(c), c.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanExecution(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim executions: %w", err)
	}
	return out, nil
}

// ClaimExecution implements linkd.ExecutionStore.
func (s *Store) ClaimExecution(ctx context.Context, t linkd.Tenant, id string, c linkd.Claim) (*linkd.Execution, error) {
	var e *linkd.Execution
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		e, err = scanExecution(tx.QueryRowContext(ctx, `UPDATE executions SET lease_owner = ?, lease_until = ?
			WHERE org_id = ? AND env = ? AND id = ? AND status IN ('RUNNING', 'STOPPING') AND (lease_until IS NULL OR lease_until < ?)
			RETURNING `+execColumns, c.Owner, micros(c.Until()), t.OrgID, t.Env, id, micros(c.Now)))
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.ExecutionNotFound(id)
		}
		return err
	})
	return e, err
}

// HeartbeatExecution implements linkd.ExecutionStore.
func (s *Store) HeartbeatExecution(ctx context.Context, e *linkd.Execution, owner string, until time.Time) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE executions SET lease_until = ? WHERE org_id = ? AND env = ? AND id = ? AND lease_owner = ?`,
			micros(until), e.Tenant.OrgID, e.Tenant.Env, e.ID, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.Errorf(linkd.ECONFLICT, "execution %s: lease lost", e.ID)
		}
		return nil
	})
}

// AdvanceExecution implements linkd.ExecutionStore.
func (s *Store) AdvanceExecution(ctx context.Context, owner string, e *linkd.Execution, node *linkd.ExecutionNode, hold bool, ev *linkd.AuditEntry) (string, error) {
	t := e.Tenant
	var status string
	err := s.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `UPDATE executions SET
			status = CASE WHEN status = 'STOPPING' AND ? = 'RUNNING' THEN 'STOPPING' ELSE ? END,
			next_at = CASE WHEN status = 'STOPPING' AND ? = 'RUNNING' THEN ? ELSE ? END,
			step = ?, attempt = ?, return_value = ?, error = ?, started_at = ?, finished_at = ?, updated_at = ?,
			lease_owner = CASE WHEN ? THEN lease_owner END, lease_until = CASE WHEN ? THEN lease_until END
			WHERE org_id = ? AND env = ? AND id = ? AND lease_owner = ? RETURNING status`,
			e.Status, e.Status, e.Status, micros(e.UpdatedAt), micros(e.NextAt), e.Step, e.Attempt, nullJSON(e.ReturnValue), e.Error, nullMicros(e.StartedAt),
			nullMicros(e.FinishedAt), micros(e.UpdatedAt), hold, hold, t.OrgID, t.Env, e.ID, owner).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.Errorf(linkd.ECONFLICT, "execution %s: lease lost", e.ID)
		} else if err != nil {
			return fmt.Errorf("advance execution: %w", err)
		}
		if node != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO execution_nodes (org_id, env, execution_id, idx, step_id, type, status, attempts,
				max_attempts, input, output, error, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (org_id, env, execution_id, idx) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
				input = excluded.input, output = excluded.output, error = excluded.error, updated_at = excluded.updated_at`,
				t.OrgID, t.Env, e.ID, node.Index, node.StepID, node.Type, node.Status, node.Attempts, node.MaxAttempts,
				jsonOr(node.Input), jsonOr(node.Output), node.Error, micros(node.StartedAt), micros(node.UpdatedAt)); err != nil {
				return fmt.Errorf("record node: %w", err)
			}
		}
		return insertAudit(ctx, tx, t, ev)
	})
	return status, err
}

// jsonOr is v, or "null" when empty.
func jsonOr(v json.RawMessage) string {
	if len(v) == 0 {
		return "null"
	}
	return string(v)
}

// Execution implements linkd.ExecutionStore.
func (s *Store) Execution(ctx context.Context, t linkd.Tenant, id string) (*linkd.Execution, error) {
	e, err := scanExecution(s.r.QueryRowContext(ctx, `SELECT `+execColumns+` FROM executions WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.ExecutionNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("execution %s: %w", id, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT idx, step_id, type, status, attempts, max_attempts, input, output, error, started_at, updated_at
		FROM execution_nodes WHERE org_id = ? AND env = ? AND execution_id = ? ORDER BY idx`, t.OrgID, t.Env, id)
	if err != nil {
		return nil, fmt.Errorf("execution nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		n := &linkd.ExecutionNode{}
		var in, out string
		var started, updated int64
		if err := rows.Scan(&n.Index, &n.StepID, &n.Type, &n.Status, &n.Attempts, &n.MaxAttempts, &in, &out, &n.Error, &started, &updated); err != nil {
			return nil, fmt.Errorf("execution nodes: %w", err)
		}
		n.Input, n.Output, n.StartedAt, n.UpdatedAt = json.RawMessage(in), json.RawMessage(out), fromMicros(started), fromMicros(updated)
		e.Nodes = append(e.Nodes, n)
	}
	return e, rows.Err()
}

// ListExecutions implements linkd.ExecutionStore.
func (s *Store) ListExecutions(ctx context.Context, t linkd.Tenant, f linkd.ExecutionFilter) (*linkd.ExecutionPage, error) {
	where := []string{"org_id = ?", "env = ?"}
	args := []any{t.OrgID, t.Env}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
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
		b, _ := json.Marshal(f.Slugs)
		add("slug IN (SELECT value FROM json_each(?))", string(b))
	}
	if f.From != nil {
		add("created_at >= ?", micros(*f.From))
	}
	if f.To != nil {
		add("created_at < ?", micros(*f.To))
	}
	cond := strings.Join(where, " AND ")
	page := &linkd.ExecutionPage{}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM executions WHERE `+cond, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("count executions: %w", err)
	}
	limit, offset := f.Bounds()
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+execColumns+` FROM executions WHERE `+cond+` ORDER BY created_at `+order+`, id `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		page.Executions = append(page.Executions, e)
	}
	return page, rows.Err()
}

// StopExecution implements linkd.ExecutionStore.
func (s *Store) StopExecution(ctx context.Context, t linkd.Tenant, id string, now time.Time, fn linkd.StopFunc) (*linkd.Execution, error) {
	var e *linkd.Execution
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		e, err = scanExecution(tx.QueryRowContext(ctx, `SELECT `+execColumns+` FROM executions WHERE org_id = ? AND env = ? AND id = ?`,
			t.OrgID, t.Env, id))
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.ExecutionNotFound(id)
		} else if err != nil {
			return err
		}
		if linkd.ExecFinished(e.Status) {
			return nil
		}
		var until sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT lease_until FROM executions WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id).Scan(&until); err != nil {
			return err
		}
		leased := until.Valid && fromMicros(until.Int64).After(now)
		status, ev, err := fn(e, leased)
		if err != nil {
			return err
		}
		e.Status = status
		var finished any
		if linkd.ExecFinished(status) {
			finished = micros(now)
			at := linkd.StoreTime(now)
			e.FinishedAt = &at
		}
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET status = ?, finished_at = ?, updated_at = ? WHERE org_id = ? AND env = ? AND id = ?`,
			status, finished, micros(now), t.OrgID, t.Env, id); err != nil {
			return err
		}
		if linkd.ExecFinished(status) {
			if _, err := tx.ExecContext(ctx, `UPDATE execution_nodes SET status = ? WHERE org_id = ? AND env = ? AND execution_id = ? AND status IN (?, ?)`,
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
func deleteAccountExecutions(ctx context.Context, tx *wtx, t linkd.Tenant, accountPK string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM execution_nodes WHERE org_id = ? AND env = ? AND execution_id IN
		(SELECT id FROM executions WHERE org_id = ? AND env = ? AND account_pk = ?)`, t.OrgID, t.Env, t.OrgID, t.Env, accountPK); err != nil {
		return fmt.Errorf("delete executions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM executions WHERE org_id = ? AND env = ? AND account_pk = ?`, t.OrgID, t.Env, accountPK); err != nil {
		return fmt.Errorf("delete executions: %w", err)
	}
	return nil
}

// ExecutionQueue implements linkd.ExecutionStore.
func (s *Store) ExecutionQueue(ctx context.Context, now time.Time) (linkd.ExecutionQueueStats, error) {
	var q linkd.ExecutionQueueStats
	var oldest sql.NullInt64
	n := micros(now)
	err := s.r.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE next_at <= ? AND (lease_until IS NULL OR lease_until < ?)),
		count(*) FILTER (WHERE lease_until >= ?),
		count(*) FILTER (WHERE next_at > ? AND (lease_until IS NULL OR lease_until < ?)),
		min(next_at) FILTER (WHERE next_at <= ? AND (lease_until IS NULL OR lease_until < ?))
		FROM executions INDEXED BY executions_due WHERE status IN ('RUNNING', 'STOPPING')`, n, n, n, n, n, n, n).
		Scan(&q.Due, &q.Running, &q.Retrying, &oldest)
	if err != nil {
		return q, fmt.Errorf("execution queue: %w", err)
	}
	if oldest.Valid {
		q.OldestDue = fromMicros(oldest.Int64)
	}
	return q, nil
}

// purgeExecutionsBatch bounds one purge transaction, so the writer is
// never held long.
const purgeExecutionsBatch = 500

// PurgeExecutions implements linkd.ExecutionStore.
func (s *Store) PurgeExecutions(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *wtx) error {
			n = 0
			rows, err := tx.QueryContext(ctx, `SELECT org_id, env, id FROM executions INDEXED BY executions_finished
				WHERE finished_at IS NOT NULL AND finished_at < ? LIMIT ?`, micros(before), purgeExecutionsBatch)
			if err != nil {
				return err
			}
			type key struct{ org, env, id string }
			var keys []key
			for rows.Next() {
				var k key
				if err := rows.Scan(&k.org, &k.env, &k.id); err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, k)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for _, k := range keys {
				for _, q := range []string{`DELETE FROM execution_nodes WHERE org_id = ? AND env = ? AND execution_id = ?`,
					`DELETE FROM executions WHERE org_id = ? AND env = ? AND id = ?`} {
					if _, err := tx.ExecContext(ctx, q, k.org, k.env, k.id); err != nil {
						return err
					}
				}
			}
			n = int64(len(keys))
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("purge executions: %w", err)
		}
		if n < purgeExecutionsBatch {
			if total > 0 {
				s.checkpointSoon()
			}
			return total, nil
		}
	}
}
