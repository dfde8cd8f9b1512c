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

const webhookColumns = `id, enabled, events, url, type, method, headers, body, slug, workflow_ids, description, grp, secret, data_key,
	disabled_reason, created_at, updated_at, compat_signing_key_id, compat_signing_key, signing_key_revoked, previous_secret, previous_until`

func scanWebhook(row pgx.Row) (*linkd.Webhook, error) {
	var w linkd.Webhook
	var events, headers, workflows []byte
	var keyID *string
	var prevUntil *time.Time
	if err := row.Scan(&w.ID, &w.Enabled, &events, &w.URL, &w.Type, &w.Method, &headers, &w.Body, &w.Slug, &workflows, &w.Description,
		&w.Group, &w.Secret, &w.DataKey, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt, &keyID, &w.SigningKey, &w.SigningKeyRevoked, &w.PreviousSecret, &prevUntil); err != nil {
		return nil, err
	}
	if keyID != nil {
		w.SigningKeyID = *keyID
	}
	if err := linkd.DecodeWebhookLists(&w, events, headers, workflows); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	if prevUntil != nil {
		w.PreviousUntil = prevUntil.UTC()
	}
	return &w, nil
}

// CreateWebhook implements linkd.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, t linkd.Tenant, w *linkd.Webhook, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) || !isID(w.ID) {
		return fmt.Errorf("create webhook: bad ids %q, %q", t.OrgID, w.ID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := putWebhook(ctx, tx, t, w); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

func putWebhook(ctx context.Context, tx pgx.Tx, t linkd.Tenant, w *linkd.Webhook) error {
	if err := checkCompatKey(ctx, tx, t, w); err != nil {
		return err
	}
	events, headers, workflows := linkd.EncodeWebhookLists(w)
	var keyID *string
	if w.SigningKeyID != "" {
		keyID = &w.SigningKeyID
	}
	_, err := tx.Exec(ctx, `INSERT INTO webhooks (org_id, env, `+webhookColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
		ON CONFLICT (org_id, env, id) DO UPDATE SET enabled = excluded.enabled, events = excluded.events, url = excluded.url,
			type = excluded.type, method = excluded.method, headers = excluded.headers, body = excluded.body, slug = excluded.slug,
			workflow_ids = excluded.workflow_ids, description = excluded.description, grp = excluded.grp, secret = excluded.secret,
			data_key = excluded.data_key, disabled_reason = excluded.disabled_reason, updated_at = excluded.updated_at,
			compat_signing_key_id = excluded.compat_signing_key_id, compat_signing_key = excluded.compat_signing_key,
			signing_key_revoked = excluded.signing_key_revoked, previous_secret = excluded.previous_secret,
			previous_until = excluded.previous_until`,
		t.OrgID, t.Env, w.ID, w.Enabled, events, w.URL, w.Type, w.Method, headers, w.Body, w.Slug, workflows, w.Description, w.Group,
		w.Secret, w.DataKey, w.DisabledReason, w.CreatedAt, w.UpdatedAt, keyID, w.SigningKey, w.SigningKeyRevoked,
		w.PreviousSecret, nullTime(w.PreviousUntil))
	if err != nil {
		return fmt.Errorf("put webhook: %w", err)
	}
	return nil
}

// checkCompatKey drops w's sealed API key when that key is revoked (or is
// not the tenant's), in the transaction that writes w. The key's row is
// read FOR SHARE: a revocation in flight is waited for and then seen, and
// one that comes after waits for this write and then clears what it wrote.
func checkCompatKey(ctx context.Context, tx pgx.Tx, t linkd.Tenant, w *linkd.Webhook) error {
	if w.SigningKeyID == "" || len(w.SigningKey) == 0 {
		return nil
	}
	if !isID(w.SigningKeyID) {
		return fmt.Errorf("put webhook: bad signing key id %q", w.SigningKeyID)
	}
	var revoked *time.Time
	err := tx.QueryRow(ctx, `SELECT revoked_at FROM api_keys WHERE org_id = $1 AND env = $2 AND id = $3 FOR SHARE`,
		t.OrgID, t.Env, w.SigningKeyID).Scan(&revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		w.SigningKey, w.SigningKeyRevoked = nil, linkd.CompatKeyRevoked(w.SigningKeyID, w.UpdatedAt)
	case err != nil:
		return fmt.Errorf("check signing key: %w", err)
	case revoked != nil:
		w.SigningKey, w.SigningKeyRevoked = nil, linkd.CompatKeyRevoked(w.SigningKeyID, *revoked)
	}
	return nil
}

// Webhooks implements linkd.WebhookStore.
func (s *Store) Webhooks(ctx context.Context, t linkd.Tenant) ([]*linkd.Webhook, error) {
	if !isID(t.OrgID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = $1 AND env = $2 ORDER BY created_at, id`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return out, nil
}

func findWebhook(ctx context.Context, q querier, t linkd.Tenant, id string, forUpdate bool) (*linkd.Webhook, error) {
	if !isID(t.OrgID) || !isID(id) {
		return nil, linkd.WebhookNotFound(id)
	}
	query := `SELECT ` + webhookColumns + ` FROM webhooks WHERE org_id = $1 AND env = $2 AND id = $3`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	w, err := scanWebhook(q.QueryRow(ctx, query, t.OrgID, t.Env, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.WebhookNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return w, nil
}

// Webhook implements linkd.WebhookStore.
func (s *Store) Webhook(ctx context.Context, t linkd.Tenant, id string) (*linkd.Webhook, error) {
	return findWebhook(ctx, s.pool, t, id, false)
}

// PutWebhook implements linkd.WebhookStore.
func (s *Store) PutWebhook(ctx context.Context, t linkd.Tenant, id string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) (*linkd.Webhook, error) {
	var out *linkd.Webhook
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = putOneWebhook(ctx, tx, t, id, fn)
		return err
	})
	return out, err
}

// PutWebhooks implements linkd.WebhookStore.
func (s *Store) PutWebhooks(ctx context.Context, t linkd.Tenant, ids []string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) ([]*linkd.Webhook, error) {
	var out []*linkd.Webhook
	err := s.tx(ctx, func(tx pgx.Tx) error {
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
func putOneWebhook(ctx context.Context, tx pgx.Tx, t linkd.Tenant, id string, fn func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error)) (*linkd.Webhook, error) {
	cur, err := findWebhook(ctx, tx, t, id, true)
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
	return s.tx(ctx, func(tx pgx.Tx) error { return deleteWebhook(ctx, tx, t, id, ev) })
}

// DeleteWebhooks implements linkd.WebhookStore.
func (s *Store) DeleteWebhooks(ctx context.Context, t linkd.Tenant, ids []string, evs []*linkd.AuditEntry) error {
	if len(evs) != len(ids) {
		return fmt.Errorf("delete webhooks: %d ids, %d audit entries", len(ids), len(evs))
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		for i, id := range ids {
			if err := deleteWebhook(ctx, tx, t, id, evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// deleteWebhook deletes endpoint id and its deliveries in tx, with ev.
func deleteWebhook(ctx context.Context, tx pgx.Tx, t linkd.Tenant, id string, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) || !isID(id) {
		return linkd.WebhookNotFound(id)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return linkd.WebhookNotFound(id)
	}
	for _, table := range []string{"webhook_deliveries", "webhook_attempts"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE org_id = $1 AND env = $2 AND webhook_id = $3`, t.OrgID, t.Env, id); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
	}
	return insertAudit(ctx, tx, t, ev)
}

// Deliveries implements linkd.WebhookStore.
func (s *Store) Deliveries(ctx context.Context, t linkd.Tenant, webhookID string, limit int) ([]*linkd.Delivery, error) {
	if !isID(t.OrgID) || !isID(webhookID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT webhook_id, event_id, state, attempts, next_at, created_at, updated_at FROM webhook_deliveries
		WHERE org_id = $1 AND env = $2 AND webhook_id = $3 ORDER BY event_id DESC LIMIT $4`, t.OrgID, t.Env, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Delivery, error) {
		d := &linkd.Delivery{Tenant: t}
		if err := r.Scan(&d.WebhookID, &d.EventID, &d.State, &d.Attempts, &d.NextAt, &d.CreatedAt, &d.UpdatedAt); err != nil {
			return nil, err
		}
		d.NextAt, d.CreatedAt, d.UpdatedAt = d.NextAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return out, nil
}

// WebhookEvent implements linkd.WebhookStore.
func (s *Store) WebhookEvent(ctx context.Context, t linkd.Tenant, id string) (*linkd.Event, error) {
	notFound := linkd.Errorf(linkd.ENOTFOUND, "Event %s not found", id)
	if !isID(t.OrgID) {
		return nil, notFound
	}
	e := &linkd.Event{ID: id}
	var payload []byte
	err := s.pool.QueryRow(ctx, `SELECT type, account_id, slug, workflow_id, payload, created_at FROM webhook_events
		WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id).Scan(&e.Type, &e.AccountID, &e.Slug, &e.WorkflowID, &payload, &e.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	e.Payload, e.CreatedAt = json.RawMessage(payload), e.CreatedAt.UTC()
	return e, nil
}

// nullTime is an optional time as a nullable column keeps it.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
