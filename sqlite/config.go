package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linkd-dev/linkd"
)

var _ linkd.ConfigStore = (*Store)(nil)

const configColumns = `id, account_pk, slug, config_id, fields, workflows, created_at, updated_at`

func scanConfig(row interface{ Scan(...any) error }) (*linkd.AppConfig, error) {
	var c linkd.AppConfig
	var fields, workflows []byte
	var created, updated int64
	if err := row.Scan(&c.ID, &c.AccountPK, &c.Slug, &c.ConfigID, &fields, &workflows, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fields, &c.Fields); err != nil {
		return nil, fmt.Errorf("config %s fields: %w", c.ID, err)
	}
	if err := json.Unmarshal(workflows, &c.Workflows); err != nil {
		return nil, fmt.Errorf("config %s workflows: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

// Configs implements linkd.ConfigStore.
func (s *Store) Configs(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.LinkedAccount, []*linkd.AppConfig, error) {
	acct, err := findAccount(ctx, s.r, t, accountID)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+configColumns+` FROM configs
		WHERE org_id = ? AND env = ? AND account_pk = ? AND (? = '' OR slug = ?) ORDER BY slug, config_id`,
		t.OrgID, t.Env, acct.ID, slug, slug)
	if err != nil {
		return nil, nil, fmt.Errorf("configs: %w", err)
	}
	defer rows.Close()
	var out []*linkd.AppConfig
	for rows.Next() {
		c, err := scanConfig(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c)
	}
	return acct, out, rows.Err()
}

// slugConfigs returns the account's configs of slug, read in tx.
func slugConfigs(ctx context.Context, tx *wtx, t linkd.Tenant, accountPK, slug string) ([]*linkd.AppConfig, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+configColumns+` FROM configs
		WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ? ORDER BY config_id`, t.OrgID, t.Env, accountPK, slug)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	defer rows.Close()
	var out []*linkd.AppConfig
	for rows.Next() {
		c, err := scanConfig(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutConfig implements linkd.ConfigStore.
func (s *Store) PutConfig(ctx context.Context, t linkd.Tenant, accountID, slug, configID string, fn linkd.ConfigFunc) (*linkd.AppConfig, bool, error) {
	var out *linkd.AppConfig
	var created bool
	err := s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		connected, err := hasApp(ctx, tx, t, acct.ID, slug)
		if err != nil {
			return err
		}
		cur, err := scanConfig(tx.QueryRowContext(ctx, `SELECT `+configColumns+` FROM configs
			WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ? AND config_id = ?`, t.OrgID, t.Env, acct.ID, slug, configID))
		if errors.Is(err, sql.ErrNoRows) {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO configs (org_id, env, id, account_pk, slug, config_id, fields, workflows, enabled_workflows, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, env, id) DO UPDATE SET fields = excluded.fields, workflows = excluded.workflows,
				enabled_workflows = excluded.enabled_workflows, updated_at = excluded.updated_at`,
			t.OrgID, t.Env, next.ID, acct.ID, slug, configID, fields, workflows, next.EnabledWorkflows(), micros(next.CreatedAt), micros(next.UpdatedAt))
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
	return s.tx(ctx, func(tx *wtx) error {
		acct, err := findAccount(ctx, tx, t, accountID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM configs WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ? AND config_id = ?`,
			t.OrgID, t.Env, acct.ID, slug, configID)
		if err != nil {
			return fmt.Errorf("delete config: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return configNotFound(configID)
		}
		if err := countActiveWorkflows(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

func configNotFound(configID string) error {
	return &linkd.Error{Code: linkd.ENOTFOUND, Field: "config_id", Message: fmt.Sprintf("Config with config id %s not found", configID)}
}

// removeAppConfigs deletes the account's configs of slug, when its last
// connection to that app goes (the compatible API's disconnect semantics).
func removeAppConfigs(ctx context.Context, tx *wtx, t linkd.Tenant, accountPK, slug string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM configs WHERE org_id = ? AND env = ? AND account_pk = ? AND slug = ?`,
		t.OrgID, t.Env, accountPK, slug)
	if err != nil {
		return fmt.Errorf("remove configs of %s: %w", slug, err)
	}
	return countActiveWorkflows(ctx, tx, t, accountPK)
}

// countActiveWorkflows refreshes the account's count of enabled workflows.
func countActiveWorkflows(ctx context.Context, tx *wtx, t linkd.Tenant, accountPK string) error {
	_, err := tx.ExecContext(ctx, `UPDATE linked_accounts SET active_workflows =
		(SELECT coalesce(sum(enabled_workflows), 0) FROM configs WHERE org_id = ? AND env = ? AND account_pk = ?)
		WHERE org_id = ? AND env = ? AND id = ?`, t.OrgID, t.Env, accountPK, t.OrgID, t.Env, accountPK)
	if err != nil {
		return fmt.Errorf("count active workflows: %w", err)
	}
	return nil
}
