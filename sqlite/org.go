package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/linkd-dev/linkd"
)

// CreateOrg implements linkd.OrgStore.
func (s *Store) CreateOrg(ctx context.Context, o *linkd.Org) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)`, o.ID, o.Name, micros(o.CreatedAt))
	if isUnique(err) {
		return linkd.OrgExists(o.Name)
	} else if err != nil {
		return fmt.Errorf("create org: %w", err)
	}
	return nil
}

// OrgByName implements linkd.OrgStore.
func (s *Store) OrgByName(ctx context.Context, name string) (*linkd.Org, error) {
	var o linkd.Org
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM orgs WHERE name = ?`, name).Scan(&o.ID, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.OrgNamedNotFound(name)
	} else if err != nil {
		return nil, fmt.Errorf("org by name: %w", err)
	}
	o.CreatedAt = fromMicros(created)
	return &o, nil
}

// Orgs implements linkd.OrgStore.
func (s *Store) Orgs(ctx context.Context) ([]*linkd.Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	defer rows.Close()
	var out []*linkd.Org
	for rows.Next() {
		var o linkd.Org
		var created int64
		if err := rows.Scan(&o.ID, &o.Name, &created); err != nil {
			return nil, err
		}
		o.CreatedAt = fromMicros(created)
		out = append(out, &o)
	}
	return out, rows.Err()
}

// OrgByID implements linkd.OrgStore.
func (s *Store) OrgByID(ctx context.Context, id string) (*linkd.Org, error) {
	var o linkd.Org
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM orgs WHERE id = ?`, id).Scan(&o.ID, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, linkd.OrgNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("org by id: %w", err)
	}
	o.CreatedAt = fromMicros(created)
	return &o, nil
}
