package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

var _ linkd.ConfigStore = (*Store)(nil)

const configColumns = `id, account_pk, slug, config_id, fields, workflows, created_at, updated_at`

func scanConfig(row pgx.Row) (*linkd.AppConfig, error) {
	var c linkd.AppConfig
	var fields, workflows []byte
	if err := row.Scan(&c.ID, &c.AccountPK, &c.Slug, &c.ConfigID, &fields, &workflows, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fields, &c.Fields); err != nil {
		return nil, fmt.Errorf("config %s fields: %w", c.ID, err)
	}
	if err := json.Unmarshal(workflows, &c.Workflows); err != nil {
		return nil, fmt.Errorf("config %s workflows: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// Configs implements linkd.ConfigStore.
func (s *Store) Configs(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.LinkedAccount, []*linkd.AppConfig, error) {
	acct, err := findAccount(ctx, s.pool, t, accountID, false)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+configColumns+` FROM configs
		WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND ($4 = '' OR slug = $4) ORDER BY slug, config_id`,
		t.OrgID, t.Env, acct.ID, slug)
	if err != nil {
		return nil, nil, fmt.Errorf("configs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*linkd.AppConfig, error) { return scanConfig(row) })
	if err != nil {
		return nil, nil, fmt.Errorf("configs: %w", err)
	}
	return acct, out, nil
}

// slugConfigs returns the account's configs of slug, read in tx.
func slugConfigs(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountPK, slug string) ([]*linkd.AppConfig, error) {
	rows, err := tx.Query(ctx, `SELECT `+configColumns+` FROM configs
		WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4 ORDER BY config_id`, t.OrgID, t.Env, accountPK, slug)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*linkd.AppConfig, error) { return scanConfig(row) })
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return out, nil
}

// PutConfig implements linkd.ConfigStore. The account row is locked first,
// so writers of one account's configs queue instead of racing on the unique
// (slug, config_id) index.
func (s *Store) PutConfig(ctx context.Context, t linkd.Tenant, accountID, slug, configID string, fn linkd.ConfigFunc) (*linkd.AppConfig, bool, error) {
	var out *linkd.AppConfig
	var created bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		connected, err := hasApp(ctx, tx, t, acct.ID, slug)
		if err != nil {
			return err
		}
		cur, err := scanConfig(tx.QueryRow(ctx, `SELECT `+configColumns+` FROM configs
			WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4 AND config_id = $5`, t.OrgID, t.Env, acct.ID, slug, configID))
		if errors.Is(err, pgx.ErrNoRows) {
			cur = nil
		} else if err != nil {
			return fmt.Errorf("put config: %w", err)
		}
		next, ev, err := fn(acct, connected, cur)
		if err != nil {
			return err
		}
		out, created = next, cur == nil
		if next == nil {
			out, created = cur, false
			return nil
		}
		fields, workflows, err := linkd.EncodeConfig(next)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO configs (org_id, env, id, account_pk, slug, config_id, fields, workflows, enabled_workflows, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (org_id, env, id) DO UPDATE SET fields = excluded.fields, workflows = excluded.workflows,
				enabled_workflows = excluded.enabled_workflows, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, next.ID, acct.ID, slug, configID, string(fields), string(workflows), next.EnabledWorkflows(),
			microUTC(next.CreatedAt), microUTC(next.UpdatedAt))
		if err != nil {
			return fmt.Errorf("put config: %w", err)
		}
		if err := countActiveWorkflows(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// DeleteConfig implements linkd.ConfigStore.
func (s *Store) DeleteConfig(ctx context.Context, t linkd.Tenant, accountID, slug, configID string, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM configs WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4 AND config_id = $5`,
			t.OrgID, t.Env, acct.ID, slug, configID)
		if err != nil {
			return fmt.Errorf("delete config: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return &linkd.Error{Code: linkd.ENOTFOUND, Field: "config_id", Message: fmt.Sprintf("Config with config id %s not found", configID)}
		}
		if err := countActiveWorkflows(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// removeAppConfigs deletes the account's configs of slug, when its last
// connection to that app goes (the compatible API's disconnect semantics).
func removeAppConfigs(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountPK, slug string) error {
	_, err := tx.Exec(ctx, `DELETE FROM configs WHERE org_id = $1 AND env = $2 AND account_pk = $3 AND slug = $4`,
		t.OrgID, t.Env, accountPK, slug)
	if err != nil {
		return fmt.Errorf("remove configs of %s: %w", slug, err)
	}
	return countActiveWorkflows(ctx, tx, t, accountPK)
}

// countActiveWorkflows refreshes the account's count of enabled workflows.
func countActiveWorkflows(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountPK string) error {
	_, err := tx.Exec(ctx, `UPDATE linked_accounts SET active_workflows =
		(SELECT coalesce(sum(enabled_workflows), 0) FROM configs WHERE org_id = $1 AND env = $2 AND account_pk = $3)
		WHERE org_id = $1 AND env = $2 AND id = $3`, t.OrgID, t.Env, accountPK)
	if err != nil {
		return fmt.Errorf("count active workflows: %w", err)
	}
	return nil
}
