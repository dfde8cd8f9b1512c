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

var _ linkd.DeliveryStore = (*Store)(nil)

// ClaimDeliveries implements linkd.DeliveryStore. A read first checks that
// anything is due, so that an idle sender polling often does not take the
// one write lock for nothing.
func (s *Store) ClaimDeliveries(ctx context.Context, c linkd.Claim) ([]*linkd.DeliveryJob, error) {
	var due int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries INDEXED BY webhook_deliveries_due
		WHERE state = 'pending' AND next_at <= ? LIMIT 1)`, micros(c.Now)).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	var out []*linkd.DeliveryJob
	err = s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
			WHERE (org_id, env, webhook_id, event_id) IN (SELECT org_id, env, webhook_id, event_id FROM webhook_deliveries d
				WHERE state = 'pending' AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?) AND `+skipTenants+`
				AND EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = d.org_id AND w.env = d.env AND w.id = d.webhook_id AND w.enabled)
				ORDER BY next_at LIMIT ?)
			RETURNING org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at`,
			c.Owner, micros(c.Until()), micros(c.Now), micros(c.Now), skipJSON(c), c.Limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			j := &linkd.DeliveryJob{}
			var next, created, updated int64
			if err := rows.Scan(&j.Tenant.OrgID, &j.Tenant.Env, &j.WebhookID, &j.EventID, &j.State, &j.Attempts, &next, &created, &updated); err != nil {
				rows.Close()
				return err
			}
			j.NextAt, j.CreatedAt, j.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
			out = append(out, j)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		// The events and endpoints of a claim: a few rows read on the
		// write connection, in the claim's transaction, so that what is
		// sent is what was there when the lease was taken.
		type key struct {
			t  linkd.Tenant
			id string
		}
		hooks := map[key]*linkd.DeliveryJob{}
		for _, j := range out {
			if j.Event, err = deliveryEvent(ctx, tx, j.Tenant, j.EventID); err != nil {
				return err
			}
			if h := hooks[key{j.Tenant, j.WebhookID}]; h != nil {
				j.Webhook, j.FailingSince = h.Webhook, h.FailingSince
				continue
			}
			if j.Webhook, err = findWebhook(ctx, tx, j.Tenant, j.WebhookID); err != nil {
				return err
			}
			var since sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT failing_since FROM webhooks WHERE org_id = ? AND env = ? AND id = ?`,
				j.Tenant.OrgID, j.Tenant.Env, j.WebhookID).Scan(&since); err != nil {
				return err
			}
			if since.Valid {
				j.FailingSince = fromMicros(since.Int64)
			}
			hooks[key{j.Tenant, j.WebhookID}] = j
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

func deliveryEvent(ctx context.Context, q querier, t linkd.Tenant, id string) (*linkd.Event, error) {
	e := &linkd.Event{ID: id}
	var payload string
	var created int64
	err := q.QueryRowContext(ctx, `SELECT type, account_id, slug, workflow_id, payload, created_at FROM webhook_events
		WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id).Scan(&e.Type, &e.AccountID, &e.Slug, &e.WorkflowID, &payload, &created)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	e.Payload, e.CreatedAt = json.RawMessage(payload), fromMicros(created)
	return e, nil
}

// FinishDelivery implements linkd.DeliveryStore.
func (s *Store) FinishDelivery(ctx context.Context, d *linkd.Delivery, a *linkd.DeliveryAttempt, state string, next time.Time, disable string) error {
	t := d.Tenant
	headers, err := json.Marshal(a.Headers)
	if err != nil || a.Headers == nil {
		headers = []byte("{}")
	}
	if a.Body == nil {
		a.Body = []byte{}
	}
	now := micros(a.At)
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_at = ?,
			lease_owner = NULL, lease_until = NULL, updated_at = ?
			WHERE org_id = ? AND env = ? AND webhook_id = ? AND event_id = ? AND state = 'pending' AND attempts = ?`,
			state, micros(next), now, t.OrgID, t.Env, d.WebhookID, d.EventID, d.Attempts)
		if err != nil {
			return fmt.Errorf("finish delivery: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.Errorf(linkd.ECONFLICT, "delivery of %s to %s was recorded by another instance", d.EventID, d.WebhookID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (org_id, env, webhook_id, event_id, attempt, at, status, duration_us,
			headers, body, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.OrgID, t.Env, d.WebhookID, d.EventID, d.Attempts+1, now,
			a.Status, a.Duration.Microseconds(), string(headers), a.Body, a.Error); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		ok := state == linkd.DeliverySucceeded
		// Written only when it changes: a page write per delivery saved.
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET failing_since = CASE WHEN ?1 THEN NULL ELSE coalesce(failing_since, ?2) END
			WHERE org_id = ?3 AND env = ?4 AND id = ?5 AND failing_since IS NOT (CASE WHEN ?1 THEN NULL ELSE coalesce(failing_since, ?2) END)`,
			ok, now, t.OrgID, t.Env, d.WebhookID); err != nil {
			return fmt.Errorf("endpoint health: %w", err)
		}
		if disable == "" {
			return nil
		}
		tx.hooks.forget(t)
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ?
			WHERE org_id = ? AND env = ? AND id = ?`, disable, now, t.OrgID, t.Env, d.WebhookID); err != nil {
			return fmt.Errorf("disable endpoint: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'failed', lease_owner = NULL, lease_until = NULL, updated_at = ?
			WHERE org_id = ? AND env = ? AND webhook_id = ? AND state = 'pending'`, now, t.OrgID, t.Env, d.WebhookID); err != nil {
			return fmt.Errorf("disable endpoint: %w", err)
		}
		return nil
	})
}

// DeliveryAttempts implements linkd.DeliveryStore.
func (s *Store) DeliveryAttempts(ctx context.Context, t linkd.Tenant, webhookID, eventID string) ([]*linkd.DeliveryAttempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT attempt, at, status, duration_us, headers, body, error FROM webhook_attempts
		WHERE org_id = ? AND env = ? AND webhook_id = ? AND event_id = ? ORDER BY attempt`, t.OrgID, t.Env, webhookID, eventID)
	if err != nil {
		return nil, fmt.Errorf("delivery attempts: %w", err)
	}
	defer rows.Close()
	var out []*linkd.DeliveryAttempt
	for rows.Next() {
		a := &linkd.DeliveryAttempt{}
		var at, dur int64
		var headers string
		if err := rows.Scan(&a.N, &at, &a.Status, &dur, &headers, &a.Body, &a.Error); err != nil {
			return nil, fmt.Errorf("delivery attempts: %w", err)
		}
		if err := json.Unmarshal([]byte(headers), &a.Headers); err != nil {
			return nil, fmt.Errorf("delivery attempts: %w", err)
		}
		a.At, a.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// OldestDueDelivery implements linkd.DeliveryStore: the first entry of the
// partial index of pending deliveries.
func (s *Store) OldestDueDelivery(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(next_at) FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ?`,
		micros(now)).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest due delivery: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(at.Int64), true, nil
}
