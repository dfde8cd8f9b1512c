package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

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

// dataKeyTable returns kind's table, its naming columns (cast to text, so
// that ids scan into strings) and placeholders for them from $first on.
func dataKeyTable(kind linkd.DataKeyKind, first int) (table, cols, textCols, params string, err error) {
	d, ok := dataKeyTables[kind]
	if !ok {
		return "", "", "", "", fmt.Errorf("unknown data key kind %q", kind)
	}
	var tc, ps []string
	for i, c := range d.cols {
		tc = append(tc, c+"::text")
		ps = append(ps, fmt.Sprintf("$%d::text", first+i))
	}
	return d.table, strings.Join(d.cols, ", "), strings.Join(tc, ", "), strings.Join(ps, ", "), nil
}

// DataKeys implements linkd.DataKeyStore.
func (s *Store) DataKeys(ctx context.Context, t linkd.Tenant, kind linkd.DataKeyKind, after *linkd.WrappedDataKey, limit int) ([]linkd.WrappedDataKey, error) {
	table, cols, textCols, params, err := dataKeyTable(kind, 4)
	if err != nil {
		return nil, err
	}
	// The keyset compares the columns as they are stored (uuid order for
	// ids), with the cursor cast to their types.
	q := `SELECT ` + textCols + `, data_key FROM ` + table + ` WHERE org_id = $1 AND env = $2 AND data_key IS NOT NULL`
	args := []any{t.OrgID, string(t.Env), limit}
	if after != nil {
		q += ` AND (` + cols + `) > (` + castParams(kind, params) + `)`
		args = append(args, after.Ref()...)
	}
	q += ` ORDER BY ` + cols + ` LIMIT $3`
	rows, err := s.pool.Query(ctx, q, args...)
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

// castParams casts uuid ids' placeholders back to uuid.
func castParams(kind linkd.DataKeyKind, params string) string {
	switch kind {
	case linkd.DataKeyAccount, linkd.DataKeyRevocation, linkd.DataKeyWebhook:
		return strings.ReplaceAll(params, "::text", "::uuid")
	}
	return params
}

// ReplaceDataKeys implements linkd.DataKeyStore.
func (s *Store) ReplaceDataKeys(ctx context.Context, t linkd.Tenant, changes []linkd.DataKeyChange) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, c := range changes {
			table, cols, _, params, err := dataKeyTable(c.Kind, 5)
			if err != nil {
				return err
			}
			args := append([]any{c.New, t.OrgID, string(t.Env), c.Key}, c.Ref()...)
			tag, err := tx.Exec(ctx, `UPDATE `+table+` SET data_key = $1 WHERE org_id = $2 AND env = $3 AND data_key = $4 AND (`+cols+`) = (`+castParams(c.Kind, params)+`)`, args...)
			if err != nil {
				return fmt.Errorf("replace %s data key: %w", c.Kind, err)
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}

// ReplaceSetting implements linkd.Store.
func (s *Store) ReplaceSetting(ctx context.Context, name, old, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		q := `UPDATE settings SET value = $1 WHERE name = $2 AND value = $3`
		if old == "" {
			q = `INSERT INTO settings (value, name) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE settings.value = $3`
		}
		if _, err := tx.Exec(ctx, q, value, name, old); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("replace setting %q: %w", name, err)
	}
	return stored, nil
}
