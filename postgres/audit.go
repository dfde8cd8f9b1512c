package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/linkd-dev/linkd"
)

const insertAuditSQL = `INSERT INTO audit_log (org_id, env, id, at, actor, action, account_id, fields, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// queueAudit adds the insert of ev to b. It takes an entry alone: one that
// carries events or executions goes through insertAudit.
func queueAudit(b *pgx.Batch, t linkd.Tenant, ev *linkd.AuditEntry) error {
	if ev == nil {
		return nil
	}
	if len(ev.Events) > 0 || len(ev.Executions) > 0 {
		return fmt.Errorf("queue audit entry %s: it carries events or executions", ev.ID)
	}
	fields, details, err := auditJSON(ev)
	if err != nil {
		return err
	}
	b.Queue(insertAuditSQL, t.OrgID, t.Env, ev.ID, ev.Time, ev.Actor, ev.Action, ev.AccountID, fields, details)
	return nil
}

// insertAudit writes ev in the transaction that makes the change it records,
// so the log has an entry exactly for each change that happened.
func insertAudit(ctx context.Context, tx pgx.Tx, t linkd.Tenant, ev *linkd.AuditEntry) error {
	if ev == nil {
		return nil
	}
	fields, details, err := auditJSON(ev)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, insertAuditSQL, t.OrgID, t.Env, ev.ID, ev.Time, ev.Actor, ev.Action, ev.AccountID, fields, details)
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
// rule of linkd.Webhook.Receives) and keeps it only when one does: one
// statement, so a tenant without endpoints pays one indexed read per
// change.
func insertEvent(ctx context.Context, q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, t linkd.Tenant, e *linkd.Event) error {
	tag, err := q.Exec(ctx, `WITH dlv AS (
			INSERT INTO webhook_deliveries (org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at)
			SELECT w.org_id, w.env, w.id, $3, 'pending', 0, $9, $9, $9 FROM webhooks w
			WHERE w.org_id = $1 AND w.env = $2 AND w.enabled AND w.events ? $4
			AND (w.slug = '' OR w.slug = $6)
			AND ($7 = '' OR w.workflow_ids = '[]'::jsonb OR w.workflow_ids ? $7)
			RETURNING 1)
		INSERT INTO webhook_events (org_id, env, id, type, account_id, slug, workflow_id, payload, created_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM dlv)`,
		t.OrgID, t.Env, e.ID, e.Type, e.AccountID, e.Slug, e.WorkflowID, eventPayload(e), e.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	if tag.RowsAffected() > 0 {
		markWork(q, linkd.WorkWebhooks)
	}
	return nil
}

// eventPayload is e's payload as jsonb wants it (never SQL NULL).
func eventPayload(e *linkd.Event) string {
	if len(e.Payload) == 0 {
		return "{}"
	}
	return string(e.Payload)
}

// ListAudit implements linkd.AuditStore.
func (s *Store) ListAudit(ctx context.Context, t linkd.Tenant, f linkd.AuditFilter) ([]*linkd.AuditEntry, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)
	if f.Cursor != "" && !isID(f.Cursor) {
		return nil, "", linkd.BadCursor(f.Cursor)
	}
	if !isID(t.OrgID) {
		return nil, "", nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"org_id = " + arg(t.OrgID), "env = " + arg(t.Env)}
	if f.AccountID != "" {
		where = append(where, "account_id = "+arg(f.AccountID))
	}
	if f.Cursor != "" {
		where = append(where, "id < "+arg(f.Cursor))
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, account_id, fields, details FROM audit_log WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT `+arg(limit+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []*linkd.AuditEntry
	for rows.Next() {
		var e linkd.AuditEntry
		var details []byte
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.AccountID, &e.Fields, &details); err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		// jsonb prints an empty object as {}; an entry without details
		// keeps a nil map, as from the sqlite store.
		if string(details) != "{}" {
			if err := json.Unmarshal(details, &e.Details); err != nil {
				return nil, "", fmt.Errorf("audit entry %s: %w", e.ID, err)
			}
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// auditJSON returns the stored JSON of an entry's field names and details.
func auditJSON(ev *linkd.AuditEntry) (fields, details string, err error) {
	f, d := []byte("[]"), []byte("{}")
	if ev.Fields != nil {
		if f, err = json.Marshal(ev.Fields); err != nil {
			return "", "", err
		}
	}
	if len(ev.Details) > 0 {
		if d, err = json.Marshal(ev.Details); err != nil {
			return "", "", err
		}
	}
	return string(f), string(d), nil
}

// AppendAudit implements linkd.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, t linkd.Tenant, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return insertAudit(ctx, tx, t, ev) })
}
