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

const webhookColumns = `id, enabled, events, url, type, method, headers, body, slug, workflow_ids, description, grp, secret, data_key,
	disabled_reason, created_at, updated_at, compat_signing_key_id, compat_signing_key, signing_key_revoked, previous_secret, previous_until`

func scanWebhook(row interface{ Scan(...any) error }) (*linkd.Webhook, error) {
	var w linkd.Webhook
	var events, headers, workflows string
	var created, updated int64
	var keyID sql.NullString
	var prevUntil int64
	if err := row.Scan(&w.ID, &w.Enabled, &events, &w.URL, &w.Type, &w.Method, &headers, &w.Body, &w.Slug, &workflows, &w.Description,
		&w.Group, &w.Secret, &w.DataKey, &w.DisabledReason, &created, &updated, &keyID, &w.SigningKey, &w.SigningKeyRevoked, &w.PreviousSecret, &prevUntil); err != nil {
		return nil, err
	}
	w.SigningKeyID = keyID.String
	if err := linkd.DecodeWebhookLists(&w, []byte(events), []byte(headers), []byte(workflows)); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	if prevUntil != 0 {
		w.PreviousUntil = fromMicros(prevUntil)
	}
	return &w, nil
}

// CreateWebhook implements linkd.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, t linkd.Tenant, w *linkd.Webhook, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if err := putWebhook(ctx, tx, t, w); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

func putWebhook(ctx context.Context, tx *wtx, t linkd.Tenant, w *linkd.Webhook) error {
	tx.hooks.forget(t)
	if err := checkCompatKey(ctx, tx, t, w); err != nil {
		return err
	}
	events, headers, workflows := linkd.EncodeWebhookLists(w)
	_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (org_id, env, `+webhookColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, env, id) DO UPDATE SET enabled = excluded.enabled, events = excluded.events, url = excluded.url,
			type = excluded.type, method = excluded.method, headers = excluded.headers, body = excluded.body, slug = excluded.slug,
			workflow_ids = excluded.workflow_ids, description = excluded.description, grp = excluded.grp, secret = excluded.secret,
			data_key = excluded.data_key, disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at,
			compat_signing_key_id = excluded.compat_signing_key_id, compat_signing_key = excluded.compat_signing_key,
			signing_key_revoked = excluded.signing_key_revoked, previous_secret = excluded.previous_secret,
			previous_until = excluded.previous_until`,
		t.OrgID, t.Env, w.ID, w.Enabled, events, w.URL, w.Type, w.Method, headers, w.Body, w.Slug, workflows, w.Description, w.Group,
		w.Secret, w.DataKey, w.DisabledReason, micros(w.CreatedAt), micros(w.UpdatedAt),
		sql.NullString{String: w.SigningKeyID, Valid: w.SigningKeyID != ""}, w.SigningKey, w.SigningKeyRevoked,
		w.PreviousSecret, untilMicros(w.PreviousUntil))
	if err != nil {
		return fmt.Errorf("put webhook: %w", err)
	}
	return nil
}

// checkCompatKey drops w's sealed API key when that key is revoked (or is
// not the tenant's), in the transaction that writes w: a save that read the
// endpoint, or checked the key, before a revocation committed must not put
// the revoked key's copy back.
func checkCompatKey(ctx context.Context, tx *wtx, t linkd.Tenant, w *linkd.Webhook) error {
	if w.SigningKeyID == "" || len(w.SigningKey) == 0 {
		return nil
	}
	var revoked sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE org_id = ? AND env = ? AND id = ?`,
		t.OrgID, t.Env, w.SigningKeyID).Scan(&revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		w.SigningKey, w.SigningKeyRevoked = nil, linkd.CompatKeyRevoked(w.SigningKeyID, w.UpdatedAt)
	case err != nil:
		return fmt.Errorf("check signing key: %w", err)
	case revoked.Valid:
		w.SigningKey, w.SigningKeyRevoked = nil, linkd.CompatKeyRevoked(w.SigningKeyID, fromMicros(revoked.Int64))
	}
	return nil
}

// Webhooks implements linkd.WebhookStore.
func (s *Store) Webhooks(ctx context.Context, t linkd.Tenant) ([]*linkd.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = ? AND env = ? ORDER BY created_at, id`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func findWebhook(ctx context.Context, q querier, t linkd.Tenant, id string) (*linkd.Webhook, error) {
	w, err := scanWebhook(q.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.WebhookNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return w, nil
}

// Webhook implements linkd.WebhookStore.
func (s *Store) Webhook(ctx context.Context, t linkd.Tenant, id string) (*linkd.Webhook, error) {
	return findWebhook(ctx, s.r, t, id)
}

// PutWebhook implements linkd.WebhookStore.
func (s *Store) PutWebhook(ctx context.Context, t linkd.Tenant, id string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) (*linkd.Webhook, error) {
	var out *linkd.Webhook
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		out, err = putOneWebhook(ctx, tx, t, id, fn)
		return err
	})
	return out, err
}

// PutWebhooks implements linkd.WebhookStore.
func (s *Store) PutWebhooks(ctx context.Context, t linkd.Tenant, ids []string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) ([]*linkd.Webhook, error) {
	var out []*linkd.Webhook
	err := s.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		for _, id := range ids {
			w, err := putOneWebhook(ctx, tx, t, id, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
				next, ev, err := fn(cur)
				if next == nil && err == nil {
					return cur, nil, errKeep
				}
				return next, ev, err
			})
			if err != nil {
				return err
			}
			out = append(out, w)
		}
		return nil
	})
	return out, err
}

// errKeep tells putOneWebhook to leave the endpoint it read as it is.
var errKeep = errors.New("keep the endpoint")

// putOneWebhook replaces endpoint id with what fn makes of it, in tx, and
// returns it as stored (the current one when fn answers errKeep).
func putOneWebhook(ctx context.Context, tx *wtx, t linkd.Tenant, id string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) (*linkd.Webhook, error) {
	cur, err := findWebhook(ctx, tx, t, id)
	if err != nil {
		return nil, err
	}
	next, ev, err := fn(cur)
	if errors.Is(err, errKeep) {
		return cur, nil
	} else if err != nil {
		return nil, err
	} else if next == nil {
		return nil, fmt.Errorf("put webhook %s: no endpoint to write", id)
	}
	next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
	if err := putWebhook(ctx, tx, t, next); err != nil {
		return nil, err
	}
	return next, insertAudit(ctx, tx, t, ev)
}

// DeleteWebhook implements linkd.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, t linkd.Tenant, id string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error { return deleteWebhook(ctx, tx, t, id, ev) })
}

// DeleteWebhooks implements linkd.WebhookStore.
func (s *Store) DeleteWebhooks(ctx context.Context, t linkd.Tenant, ids []string, evs []*linkd.AuditEntry) error {
	if len(evs) != len(ids) {
		return fmt.Errorf("delete webhooks: %d ids, %d audit entries", len(ids), len(evs))
	}
	return s.tx(ctx, func(tx *wtx) error {
		for i, id := range ids {
			if err := deleteWebhook(ctx, tx, t, id, evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// deleteWebhook deletes endpoint id and its deliveries in tx, with ev.
func deleteWebhook(ctx context.Context, tx *wtx, t linkd.Tenant, id string, ev *linkd.AuditEntry) error {
	tx.hooks.forget(t)
	res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return linkd.WebhookNotFound(id)
	}
	for _, table := range []string{"webhook_deliveries", "webhook_attempts"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE org_id = ? AND env = ? AND webhook_id = ?`, t.OrgID, t.Env, id); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
	}
	return insertAudit(ctx, tx, t, ev)
}

// Deliveries implements linkd.WebhookStore.
func (s *Store) Deliveries(ctx context.Context, t linkd.Tenant, webhookID string, limit int) ([]*linkd.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT webhook_id, event_id, state, attempts, next_at, created_at, updated_at FROM webhook_deliveries
		WHERE org_id = ? AND env = ? AND webhook_id = ? ORDER BY event_id DESC LIMIT ?`, t.OrgID, t.Env, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Delivery
	for rows.Next() {
		d := &linkd.Delivery{Tenant: t}
		var next, created, updated int64
		if err := rows.Scan(&d.WebhookID, &d.EventID, &d.State, &d.Attempts, &next, &created, &updated); err != nil {
			return nil, err
		}
		d.NextAt, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
		out = append(out, d)
	}
	return out, rows.Err()
}

// WebhookEvent implements linkd.WebhookStore.
func (s *Store) WebhookEvent(ctx context.Context, t linkd.Tenant, id string) (*linkd.Event, error) {
	e := &linkd.Event{ID: id}
	var payload string
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT type, account_id, slug, workflow_id, payload, created_at FROM webhook_events
		WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id).Scan(&e.Type, &e.AccountID, &e.Slug, &e.WorkflowID, &payload, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "Event %s not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	e.Payload, e.CreatedAt = json.RawMessage(payload), fromMicros(created)
	return e, nil
}

// untilMicros is an optional time as a NOT NULL column keeps it: 0 for
// none.
func untilMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}
