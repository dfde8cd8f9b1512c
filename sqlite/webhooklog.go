package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.DeliveryLogStore = (*Store)(nil)

const deliveryLogColumns = `d.webhook_id, d.event_id, coalesce(e.type, ''), d.state, d.attempts, d.next_at, d.created_at, d.updated_at`

func scanLogDelivery(t linkd.Tenant, row interface{ Scan(...any) error }) (*linkd.Delivery, error) {
	d := &linkd.Delivery{Tenant: t}
	var next, created, updated int64
	if err := row.Scan(&d.WebhookID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &next, &created, &updated); err != nil {
		return nil, err
	}
	d.NextAt, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	return d, nil
}

// DeliveryLog implements linkd.DeliveryLogStore.
func (s *Store) DeliveryLog(ctx context.Context, t linkd.Tenant, webhookID string, f linkd.DeliveryFilter) (*linkd.DeliveryPage, error) {
	where := `d.org_id = ? AND d.env = ? AND d.webhook_id = ?`
	args := []any{t.OrgID, t.Env, webhookID}
	if f.State != "" {
		where += ` AND d.state = ?`
		args = append(args, f.State)
	}
	if f.Event != "" {
		where += ` AND e.type = ?`
		args = append(args, f.Event)
	}
	from := ` FROM webhook_deliveries d LEFT JOIN webhook_events e ON e.org_id = d.org_id AND e.env = d.env AND e.id = d.event_id WHERE ` + where
	page := &linkd.DeliveryPage{}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryLogColumns+from+` ORDER BY d.event_id DESC LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanLogDelivery(t, rows)
		if err != nil {
			return nil, fmt.Errorf("delivery log: %w", err)
		}
		page.Deliveries = append(page.Deliveries, d)
	}
	return page, rows.Err()
}

func findDelivery(ctx context.Context, q querier, t linkd.Tenant, webhookID, eventID string) (*linkd.Delivery, error) {
	d, err := scanLogDelivery(t, q.QueryRowContext(ctx, `SELECT `+deliveryLogColumns+` FROM webhook_deliveries d
		LEFT JOIN webhook_events e ON e.org_id = d.org_id AND e.env = d.env AND e.id = d.event_id
		WHERE d.org_id = ? AND d.env = ? AND d.webhook_id = ? AND d.event_id = ?`, t.OrgID, t.Env, webhookID, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.DeliveryNotFound(eventID)
	} else if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return d, nil
}

// Delivery implements linkd.DeliveryLogStore.
func (s *Store) Delivery(ctx context.Context, t linkd.Tenant, webhookID, eventID string) (*linkd.Delivery, error) {
	return findDelivery(ctx, s.r, t, webhookID, eventID)
}

// Redeliver implements linkd.DeliveryLogStore.
func (s *Store) Redeliver(ctx context.Context, t linkd.Tenant, webhookID, eventID string, now time.Time, ev *linkd.AuditEntry) (*linkd.Delivery, error) {
	var out *linkd.Delivery
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', next_at = ?, updated_at = ?
			WHERE org_id = ? AND env = ? AND webhook_id = ? AND event_id = ?`, micros(now), micros(now), t.OrgID, t.Env, webhookID, eventID)
		if err != nil {
			return fmt.Errorf("redeliver: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.DeliveryNotFound(eventID)
		}
		markWork(tx, linkd.WorkWebhooks)
		if out, err = findDelivery(ctx, tx, t, webhookID, eventID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
	return out, err
}

// CreateTestDelivery implements linkd.DeliveryLogStore.
func (s *Store) CreateTestDelivery(ctx context.Context, t linkd.Tenant, webhookID string, e *linkd.Event, ev *linkd.AuditEntry) error {
	at := micros(e.CreatedAt)
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at)
			SELECT org_id, env, id, ?, 'pending', 0, ?, ?, ? FROM webhooks WHERE org_id = ? AND env = ? AND id = ?`,
			e.ID, at, at, at, t.OrgID, t.Env, webhookID)
		if err != nil {
			return fmt.Errorf("test delivery: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.WebhookNotFound(webhookID)
		}
		markWork(tx, linkd.WorkWebhooks)
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (org_id, env, id, type, account_id, slug, workflow_id, payload, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.OrgID, t.Env, e.ID, e.Type, e.AccountID, e.Slug, e.WorkflowID, eventPayload(e), at); err != nil {
			return fmt.Errorf("test event: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// ReplayDeliveries implements linkd.DeliveryLogStore.
func (s *Store) ReplayDeliveries(ctx context.Context, t linkd.Tenant, webhookID string, r linkd.DeliveryReplay, now time.Time, audit func(n int) *linkd.AuditEntry) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', next_at = ?, updated_at = ?
			WHERE org_id = ? AND env = ? AND webhook_id = ? AND state = ? AND created_at >= ? AND created_at < ?`,
			micros(now), micros(now), t.OrgID, t.Env, webhookID, r.State, micros(r.Since), micros(r.Until))
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if n > 0 {
			markWork(tx, linkd.WorkWebhooks)
		}
		return insertAudit(ctx, tx, t, audit(int(n)))
	})
	return int(n), err
}

// AccountDeliveries implements linkd.AccountDeliveryReader. The events
// are found among the tenant's newest on the primary key, and each one's
// deliveries by the primary key of each endpoint (a tenant has few).
func (s *Store) AccountDeliveries(ctx context.Context, t linkd.Tenant, accountID string, since time.Time, limit int) ([]*linkd.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `WITH recent AS (
			SELECT id, type, account_id, created_at FROM webhook_events WHERE org_id = ? AND env = ? AND id >= ? ORDER BY id DESC LIMIT ?
		), mine AS (
			SELECT id, type FROM recent WHERE account_id = ? AND created_at >= ? ORDER BY id DESC LIMIT ?
		)
		SELECT d.webhook_id, d.event_id, e.type, d.state, d.attempts, d.next_at, d.created_at, d.updated_at
		FROM mine e CROSS JOIN webhooks w
		JOIN webhook_deliveries d ON d.org_id = w.org_id AND d.env = w.env AND d.webhook_id = w.id AND d.event_id = e.id
		WHERE w.org_id = ? AND w.env = ?
		ORDER BY d.event_id DESC, d.webhook_id`,
		t.OrgID, t.Env, linkd.EventIDSince(since), linkd.AccountEventScan, accountID, micros(since), limit, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("account deliveries: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Delivery
	for rows.Next() {
		d, err := scanLogDelivery(t, rows)
		if err != nil {
			return nil, fmt.Errorf("account deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
