package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.DeliveryLogStore = (*Store)(nil)

const deliveryLogColumns = `d.webhook_id, d.event_id, coalesce(e.type, ''), d.state, d.attempts, d.next_at, d.created_at, d.updated_at`

const deliveryLogFrom = ` FROM webhook_deliveries d
	LEFT JOIN webhook_events e ON e.org_id = d.org_id AND e.env = d.env AND e.id = d.event_id`

func scanLogDelivery(t linkd.Tenant, row pgx.Row) (*linkd.Delivery, error) {
	d := &linkd.Delivery{Tenant: t}
	if err := row.Scan(&d.WebhookID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.NextAt, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.NextAt, d.CreatedAt, d.UpdatedAt = d.NextAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

// DeliveryLog implements linkd.DeliveryLogStore.
func (s *Store) DeliveryLog(ctx context.Context, t linkd.Tenant, webhookID string, f linkd.DeliveryFilter) (*linkd.DeliveryPage, error) {
	page := &linkd.DeliveryPage{}
	if !isID(t.OrgID) || !isID(webhookID) {
		return page, nil
	}
	where := ` WHERE d.org_id = $1 AND d.env = $2 AND d.webhook_id = $3`
	args := []any{t.OrgID, t.Env, webhookID}
	if f.State != "" {
		args = append(args, f.State)
		where += ` AND d.state = $` + strconv.Itoa(len(args))
	}
	if f.Event != "" {
		args = append(args, f.Event)
		where += ` AND e.type = $` + strconv.Itoa(len(args))
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*)`+deliveryLogFrom+where, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	n := len(args)
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryLogColumns+deliveryLogFrom+where+
		` ORDER BY d.event_id DESC LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	page.Deliveries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Delivery, error) { return scanLogDelivery(t, r) })
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	return page, nil
}

func findDelivery(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, t linkd.Tenant, webhookID, eventID string) (*linkd.Delivery, error) {
	if !isID(t.OrgID) || !isID(webhookID) {
		return nil, linkd.DeliveryNotFound(eventID)
	}
	d, err := scanLogDelivery(t, q.QueryRow(ctx, `SELECT `+deliveryLogColumns+deliveryLogFrom+`
		WHERE d.org_id = $1 AND d.env = $2 AND d.webhook_id = $3 AND d.event_id = $4`, t.OrgID, t.Env, webhookID, eventID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.DeliveryNotFound(eventID)
	} else if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return d, nil
}

// Delivery implements linkd.DeliveryLogStore.
func (s *Store) Delivery(ctx context.Context, t linkd.Tenant, webhookID, eventID string) (*linkd.Delivery, error) {
	return findDelivery(ctx, s.pool, t, webhookID, eventID)
}

// Redeliver implements linkd.DeliveryLogStore.
func (s *Store) Redeliver(ctx context.Context, t linkd.Tenant, webhookID, eventID string, now time.Time, ev *linkd.AuditEntry) (*linkd.Delivery, error) {
	if !isID(t.OrgID) || !isID(webhookID) {
		return nil, linkd.DeliveryNotFound(eventID)
	}
	var out *linkd.Delivery
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = 'pending', next_at = $5, updated_at = $5
			WHERE org_id = $1 AND env = $2 AND webhook_id = $3 AND event_id = $4`, t.OrgID, t.Env, webhookID, eventID, now)
		if err != nil {
			return fmt.Errorf("redeliver: %w", err)
		}
		if tag.RowsAffected() == 0 {
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
	if !isID(t.OrgID) || !isID(webhookID) {
		return linkd.WebhookNotFound(webhookID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at)
			SELECT org_id, env, id, $4, 'pending', 0, $5, $5, $5 FROM webhooks WHERE org_id = $1 AND env = $2 AND id = $3`,
			t.OrgID, t.Env, webhookID, e.ID, e.CreatedAt)
		if err != nil {
			return fmt.Errorf("test delivery: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return linkd.WebhookNotFound(webhookID)
		}
		markWork(tx, linkd.WorkWebhooks)
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_events (org_id, env, id, type, account_id, slug, workflow_id, payload, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, t.OrgID, t.Env, e.ID, e.Type, e.AccountID, e.Slug, e.WorkflowID, eventPayload(e), e.CreatedAt); err != nil {
			return fmt.Errorf("test event: %w", err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// ReplayDeliveries implements linkd.DeliveryLogStore.
func (s *Store) ReplayDeliveries(ctx context.Context, t linkd.Tenant, webhookID string, r linkd.DeliveryReplay, now time.Time, audit func(n int) *linkd.AuditEntry) (int, error) {
	if !isID(t.OrgID) || !isID(webhookID) {
		return 0, linkd.WebhookNotFound(webhookID)
	}
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET state = 'pending', next_at = $4, updated_at = $4
			WHERE org_id = $1 AND env = $2 AND webhook_id = $3 AND state = $5 AND created_at >= $6 AND created_at < $7`,
			t.OrgID, t.Env, webhookID, now, r.State, r.Since, r.Until)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		n = tag.RowsAffected()
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
	if !isID(t.OrgID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH recent AS (
			SELECT id, type, account_id, created_at FROM webhook_events WHERE org_id = $1 AND env = $2 AND id >= $3 ORDER BY id DESC LIMIT $4
		), mine AS (
			SELECT id, type FROM recent WHERE account_id = $5 AND created_at >= $7 ORDER BY id DESC LIMIT $6
		)
		SELECT d.webhook_id, d.event_id, e.type, d.state, d.attempts, d.next_at, d.created_at, d.updated_at
		FROM mine e CROSS JOIN webhooks w
		JOIN webhook_deliveries d ON d.org_id = w.org_id AND d.env = w.env AND d.webhook_id = w.id AND d.event_id = e.id
		WHERE w.org_id = $1 AND w.env = $2
		ORDER BY d.event_id DESC, d.webhook_id`,
		t.OrgID, t.Env, linkd.EventIDSince(since), linkd.AccountEventScan, accountID, limit, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("account deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Delivery, error) { return scanLogDelivery(t, r) })
	if err != nil {
		return nil, fmt.Errorf("account deliveries: %w", err)
	}
	return out, nil
}
