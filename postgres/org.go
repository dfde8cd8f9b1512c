package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// CreateOrg implements linkd.OrgStore.
func (s *Store) CreateOrg(ctx context.Context, o *linkd.Org) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)`, o.ID, o.Name, o.CreatedAt)
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
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM orgs WHERE name = $1`, name).Scan(&o.ID, &o.Name, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, linkd.OrgNamedNotFound(name)
	} else if err != nil {
		return nil, fmt.Errorf("org by name: %w", err)
	}
	return &o, nil
}

// Orgs implements linkd.OrgStore.
func (s *Store) Orgs(ctx context.Context) ([]*linkd.Org, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.Org, error) {
		var o linkd.Org
		return &o, r.Scan(&o.ID, &o.Name, &o.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return out, nil
}

// OrgByID implements linkd.OrgStore.
func (s *Store) OrgByID(ctx context.Context, id string) (*linkd.Org, error) {
	notFound := linkd.OrgNotFound(id)
	if !isID(id) {
		return nil, notFound
	}
	var o linkd.Org
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM orgs WHERE id = $1`, id).Scan(&o.ID, &o.Name, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("org by id: %w", err)
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return &o, nil
}
