package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linkd-dev/linkd"
)

var _ linkd.EventDefStore = (*Store)(nil)

const eventDefColumns = `id, name, response, json_schema, created_at, updated_at`

func scanEventDef(r scanner) (*linkd.EventDef, error) {
	d := &linkd.EventDef{}
	var resp, schema string
	var created, updated int64
	if err := r.Scan(&d.ID, &d.Name, &resp, &schema, &created, &updated); err != nil {
		return nil, err
	}
	d.Response, d.CreatedAt, d.UpdatedAt = json.RawMessage(resp), fromMicros(created), fromMicros(updated)
	if schema != "" {
		d.JSONSchema = json.RawMessage(schema)
	}
	return d, nil
}

// EventDefs implements linkd.EventDefStore.
func (s *Store) EventDefs(ctx context.Context, t linkd.Tenant) ([]*linkd.EventDef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventDefColumns+` FROM event_defs WHERE org_id = ? AND env = ? ORDER BY name`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("event definitions: %w", err)
	}
	defer rows.Close()
	out := []*linkd.EventDef{}
	for rows.Next() {
		d, err := scanEventDef(rows)
		if err != nil {
			return nil, fmt.Errorf("event definitions: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// EventDef implements linkd.EventDefStore.
func (s *Store) EventDef(ctx context.Context, t linkd.Tenant, key string, byName bool) (*linkd.EventDef, error) {
	col := "id"
	if byName {
		col = "name"
	}
	d, err := scanEventDef(s.r.QueryRowContext(ctx, `SELECT `+eventDefColumns+` FROM event_defs WHERE org_id = ? AND env = ? AND `+col+` = ?`,
		t.OrgID, t.Env, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.EventDefNotFound(key)
	}
	return d, err
}

// PutEventDef implements linkd.EventDefStore.
func (s *Store) PutEventDef(ctx context.Context, t linkd.Tenant, d *linkd.EventDef, create bool, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		if create {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM event_defs WHERE org_id = ? AND env = ?`, t.OrgID, t.Env).Scan(&n); err != nil {
				return err
			}
			if n >= linkd.MaxEventDefs {
				return linkd.FieldError("name", "an environment has at most %d events", linkd.MaxEventDefs)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO event_defs (org_id, env, `+eventDefColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				t.OrgID, t.Env, d.ID, d.Name, string(d.Response), string(d.JSONSchema), micros(d.CreatedAt), micros(d.UpdatedAt))
			if isUnique(err) {
				return linkd.EventDefExists(d.Name)
			} else if err != nil {
				return fmt.Errorf("create event definition: %w", err)
			}
			return insertAudit(ctx, tx, t, ev)
		}
		var created int64
		err := tx.QueryRowContext(ctx, `UPDATE event_defs SET name = ?, response = ?, json_schema = ?, updated_at = ?
			WHERE org_id = ? AND env = ? AND id = ? RETURNING created_at`, d.Name, string(d.Response), string(d.JSONSchema),
			micros(d.UpdatedAt), t.OrgID, t.Env, d.ID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return linkd.EventDefNotFound(d.ID)
		} else if isUnique(err) {
			return linkd.EventDefExists(d.Name)
		} else if err != nil {
			return fmt.Errorf("update event definition: %w", err)
		}
		d.CreatedAt = fromMicros(created)
		return insertAudit(ctx, tx, t, ev)
	})
}

// DeleteEventDef implements linkd.EventDefStore.
func (s *Store) DeleteEventDef(ctx context.Context, t linkd.Tenant, id string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM event_defs WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, id)
		if err != nil {
			return fmt.Errorf("delete event definition: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return linkd.EventDefNotFound(id)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
