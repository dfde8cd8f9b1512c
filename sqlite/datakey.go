package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/linkd-dev/linkd"
)

// dataKeyTables says where each kind of data key lives: its table and the
// columns that name a row within a tenant (its keyset order).
var dataKeyTables = map[linkd.DataKeyKind]struct {
	table string
	cols  []string
}{
	linkd.DataKeyAccount:     {"linked_accounts", []string{"id"}},
	linkd.DataKeyRevocation:  {"revocations", []string{"id"}},
	linkd.DataKeyAppSettings: {"app_settings", []string{"slug"}},
	linkd.DataKeyWebhook:     {"webhooks", []string{"id"}},
	linkd.DataKeyIdempotency: {"idempotency_keys", []string{"caller", "method", "path", "key"}},
}

func dataKeyTable(kind linkd.DataKeyKind) (table, cols, params string, err error) {
	d, ok := dataKeyTables[kind]
	if !ok {
		return "", "", "", fmt.Errorf("unknown data key kind %q", kind)
	}
	return d.table, strings.Join(d.cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(d.cols)), ", "), nil
}

// DataKeys implements linkd.DataKeyStore.
func (s *Store) DataKeys(ctx context.Context, t linkd.Tenant, kind linkd.DataKeyKind, after *linkd.WrappedDataKey, limit int) ([]linkd.WrappedDataKey, error) {
	table, cols, params, err := dataKeyTable(kind)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + cols + `, data_key FROM ` + table + ` WHERE org_id = ? AND env = ? AND data_key IS NOT NULL`
	args := []any{t.OrgID, string(t.Env)}
	if after != nil {
		q += ` AND (` + cols + `) > (` + params + `)`
		args = append(args, after.Ref()...)
	}
	q += ` ORDER BY ` + cols + ` LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list %s data keys: %w", kind, err)
	}
	defer rows.Close()
	var out []linkd.WrappedDataKey
	for rows.Next() {
		k := linkd.WrappedDataKey{Kind: kind}
		if err := rows.Scan(k.ScanRef()...); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ReplaceDataKeys implements linkd.DataKeyStore.
func (s *Store) ReplaceDataKeys(ctx context.Context, t linkd.Tenant, changes []linkd.DataKeyChange) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *wtx) error {
		n = 0
		for _, c := range changes {
			table, cols, params, err := dataKeyTable(c.Kind)
			if err != nil {
				return err
			}
			args := append([]any{c.New, t.OrgID, string(t.Env)}, c.Ref()...)
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET data_key = ? WHERE org_id = ? AND env = ? AND (`+cols+`) = (`+params+`) AND data_key = ?`, append(args, c.Key)...)
			if err != nil {
				return fmt.Errorf("replace %s data key: %w", c.Kind, err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	return n, err
}

// ReplaceSetting implements linkd.Store.
func (s *Store) ReplaceSetting(ctx context.Context, name, old, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx *wtx) error {
		q := `UPDATE settings SET value = ? WHERE name = ? AND value = ?`
		if old == "" {
			q = `INSERT INTO settings (value, name) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE settings.value = ?`
		}
		if _, err := tx.ExecContext(ctx, q, value, name, old); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("replace setting %q: %w", name, err)
	}
	return stored, nil
}
