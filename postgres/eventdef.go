package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.EventDefStore = (*Store)(nil)

const eventDefColumns = `id, name, response, json_schema, created_at, updated_at`

func scanEventDef(r pgx.Row) (*linkd.EventDef, error) {
	d := &linkd.EventDef{}
	var resp, schema string
	if err := r.Scan(&d.ID, &d.Name, &resp, &schema, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.Response, d.CreatedAt, d.UpdatedAt = json.RawMessage(resp), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	if schema != "" {
		d.JSONSchema = json.RawMessage(schema)
	}
	return d, nil
}

// EventDefs implements linkd.EventDefStore.
func (s *Store) EventDefs(ctx context.Context, t linkd.Tenant) ([]*linkd.EventDef, error) {
	if !isID(t.OrgID) {
		return []*linkd.EventDef{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventDefColumns+` FROM event_defs WHERE org_id = $1 AND env = $2 ORDER BY name`, t.OrgID, t.Env)
	if err != nil {
		return nil, fmt.Errorf("event definitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.EventDef, error) { return scanEventDef(r) })
	if err != nil {
		return nil, fmt.Errorf("event definitions: %w", err)
	}
	if out == nil {
		out = []*linkd.EventDef{}
	}
	return out, nil
}

// EventDef implements linkd.EventDefStore.
func (s *Store) EventDef(ctx context.Context, t linkd.Tenant, key string, byName bool) (*linkd.EventDef, error) {
	col := "id"
	if byName {
		col = "name"
	}
	if !isID(t.OrgID) || (!byName && !isID(key)) {
		return nil, linkd.EventDefNotFound(key)
	}
	d, err := scanEventDef(s.pool.QueryRow(ctx, `SELECT `+eventDefColumns+` FROM event_defs WHERE org_id = $1 AND env = $2 AND `+col+` = $3`,
		t.OrgID, t.Env, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.EventDefNotFound(key)
	} else if err != nil {
		return nil, fmt.Errorf("event definition: %w", err)
	}
	return d, nil
}

// PutEventDef implements linkd.EventDefStore.
func (s *Store) PutEventDef(ctx context.Context, t linkd.Tenant, d *linkd.EventDef, create bool, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) || !isID(d.ID) {
		return linkd.EventDefNotFound(d.ID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if create {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM event_defs WHERE org_id = $1 AND env = $2`, t.OrgID, t.Env).Scan(&n); err != nil {
				return err
			}
			if n >= linkd.MaxEventDefs {
				return linkd.FieldError("name", "an environment has at most %d events", linkd.MaxEventDefs)
			}
			_, err := tx.Exec(ctx, `INSERT INTO event_defs (org_id, env, `+eventDefColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				t.OrgID, t.Env, d.ID, d.Name, string(d.Response), string(d.JSONSchema), d.CreatedAt, d.UpdatedAt)
			if isUnique(err) {
				return linkd.EventDefExists(d.Name)
			} else if err != nil {
				return fmt.Errorf("create event definition: %w", err)
			}
			return insertAudit(ctx, tx, t, ev)
		}
		err := tx.QueryRow(ctx, `UPDATE event_defs SET name = $1, response = $2, json_schema = $3, updated_at = $4
			WHERE org_id = $5 AND env = $6 AND id = $7 RETURNING created_at`, d.Name, string(d.Response), string(d.JSONSchema),
			d.UpdatedAt, t.OrgID, t.Env, d.ID).Scan(&d.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return linkd.EventDefNotFound(d.ID)
		} else if isUnique(err) {
			return linkd.EventDefExists(d.Name)
		} else if err != nil {
			return fmt.Errorf("update event definition: %w", err)
		}
		d.CreatedAt = d.CreatedAt.UTC()
		return insertAudit(ctx, tx, t, ev)
	})
}

// DeleteEventDef implements linkd.EventDefStore.
func (s *Store) DeleteEventDef(ctx context.Context, t linkd.Tenant, id string, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) || !isID(id) {
		return linkd.EventDefNotFound(id)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM event_defs WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, id)
		if err != nil {
			return fmt.Errorf("delete event definition: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return linkd.EventDefNotFound(id)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}
