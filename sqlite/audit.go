package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/linkd-dev/linkd"
)

func insertAudit(ctx context.Context, tx *wtx, t linkd.Tenant, ev *linkd.AuditEntry) error {
	if ev == nil {
		return nil
	}
	fields, err := json.Marshal(ev.Fields)
	if err != nil {
		return err
	}
	if ev.Fields == nil {
		fields = []byte("[]")
	}
	details := []byte("{}")
	if len(ev.Details) > 0 {
		if details, err = json.Marshal(ev.Details); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (org_id, env, id, at, actor, action, account_id, fields, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.OrgID, t.Env, ev.ID, micros(ev.Time), ev.Actor, ev.Action, ev.AccountID, string(fields), string(details))
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	for _, e := range ev.Events {
		if err := insertEvent(ctx, tx, t, e); err != nil {
			return err
		}
	}
	return insertExecutions(ctx, tx, t, ev.Executions)
}

// insertEvent fans e out to the tenant's endpoints that receive it (the
// rule of linkd.Webhook.Receives) and keeps it only when one does, so a
// tenant without endpoints pays one indexed read per change.
func insertEvent(ctx context.Context, tx *wtx, t linkd.Tenant, e *linkd.Event) error {
	if has, err := tx.hooks.has(ctx, tx, t); err != nil || !has {
		return err
	}
	at := micros(e.CreatedAt)
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at)
		SELECT w.org_id, w.env, w.id, ?, 'pending', 0, ?, ?, ? FROM webhooks w
		WHERE w.org_id = ? AND w.env = ? AND w.enabled = 1
		AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = ?)
		AND (w.slug = '' OR w.slug = ?)
		AND (? = '' OR w.workflow_ids = '[]' OR EXISTS (SELECT 1 FROM json_each(w.workflow_ids) WHERE value = ?))`,
		e.ID, at, at, at, t.OrgID, t.Env, e.Type, e.Slug, e.WorkflowID, e.WorkflowID)
	if err != nil {
		return fmt.Errorf("fan out event: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	markWork(tx, linkd.WorkWebhooks)
	_, err = tx.ExecContext(ctx, `INSERT INTO webhook_events (org_id, env, id, type, account_id, slug, workflow_id, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.OrgID, t.Env, e.ID, e.Type, e.AccountID, e.Slug, e.WorkflowID, eventPayload(e), at)
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// ListAudit implements linkd.AuditStore.
func (s *Store) ListAudit(ctx context.Context, t linkd.Tenant, f linkd.AuditFilter) ([]*linkd.AuditEntry, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)
	where := []string{"org_id = ?", "env = ?"}
	args := []any{t.OrgID, t.Env}
	if f.AccountID != "" {
		where = append(where, "account_id = ?")
		args = append(args, f.AccountID)
	}
	if f.Cursor != "" {
		where = append(where, "id < ?")
		args = append(args, f.Cursor)
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, action, account_id, fields, details FROM audit_log WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []*linkd.AuditEntry
	for rows.Next() {
		var e linkd.AuditEntry
		var at int64
		var fields, details string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.AccountID, &fields, &details); err != nil {
			return nil, "", err
		}
		if details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, "", fmt.Errorf("audit entry %s: %w", e.ID, err)
			}
		}
		e.Time = fromMicros(at)
		if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
			return nil, "", fmt.Errorf("audit entry %s: %w", e.ID, err)
		}
		out = append(out, &e)
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

// AppendAudit implements linkd.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, t linkd.Tenant, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error { return insertAudit(ctx, tx, t, ev) })
}

// eventPayload is e's payload, "{}" when it has none.
func eventPayload(e *linkd.Event) string {
	if len(e.Payload) == 0 {
		return "{}"
	}
	return string(e.Payload)
}
