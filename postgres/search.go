package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// fillSearch gives the accounts made before migration 0019 their search
// text, in batches of the primary key, inside the migration's transaction.
func fillSearch(ctx context.Context, tx pgx.Tx) error {
	after := []any{"00000000-0000-0000-0000-000000000000", "", "00000000-0000-0000-0000-000000000000"}
	for {
		rows, err := tx.Query(ctx, `SELECT org_id::text, env, id::text, account_id, name FROM linked_accounts
			WHERE (org_id, env, id) > ($1::uuid, $2, $3::uuid) ORDER BY org_id, env, id LIMIT 5000`, after...)
		if err != nil {
			return fmt.Errorf("fill search text: %w", err)
		}
		var orgs, envs, ids, texts []string
		for rows.Next() {
			var org, env, id, accountID, name string
			if err := rows.Scan(&org, &env, &id, &accountID, &name); err != nil {
				rows.Close()
				return fmt.Errorf("fill search text: %w", err)
			}
			orgs, envs, ids = append(orgs, org), append(envs, env), append(ids, id)
			texts = append(texts, linkd.SearchText(accountID, name))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fill search text: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		last := len(ids) - 1
		after = []any{orgs[last], envs[last], ids[last]}
		if _, err := tx.Exec(ctx, `UPDATE linked_accounts AS a SET search = u.search
			FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[]) AS u (org_id, env, id, search)
			WHERE a.org_id = u.org_id AND a.env = u.env AND a.id = u.id`, orgs, envs, ids, texts); err != nil {
			return fmt.Errorf("fill search text: %w", err)
		}
	}
}

// fillTrigrams gives every account its search_trgm (migration 0029), in
// batches of the primary key, and then builds the search index over it,
// when pg_trgm is installed: building it over the filled column once is
// faster than keeping it up to date row by row.
func fillTrigrams(ctx context.Context, tx pgx.Tx) error {
	after := []any{"00000000-0000-0000-0000-000000000000", "", "00000000-0000-0000-0000-000000000000"}
	for {
		rows, err := tx.Query(ctx, `SELECT org_id::text, env, id::text, coalesce(search, '') FROM linked_accounts
			WHERE (org_id, env, id) > ($1::uuid, $2, $3::uuid) ORDER BY org_id, env, id LIMIT 5000`, after...)
		if err != nil {
			return fmt.Errorf("fill search trigrams: %w", err)
		}
		var orgs, envs, ids, texts []string
		for rows.Next() {
			var org, env, id, search string
			if err := rows.Scan(&org, &env, &id, &search); err != nil {
				rows.Close()
				return fmt.Errorf("fill search trigrams: %w", err)
			}
			orgs, envs, ids = append(orgs, org), append(envs, env), append(ids, id)
			texts = append(texts, linkd.TrigramText(search))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fill search trigrams: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		last := len(ids) - 1
		after = []any{orgs[last], envs[last], ids[last]}
		if _, err := tx.Exec(ctx, `UPDATE linked_accounts AS a SET search_trgm = u.t
			FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[]) AS u (org_id, env, id, t)
			WHERE a.org_id = u.org_id AND a.env = u.env AND a.id = u.id`, orgs, envs, ids, texts); err != nil {
			return fmt.Errorf("fill search trigrams: %w", err)
		}
	}
	var trgm bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&trgm); err != nil || !trgm {
		return err
	}
	_, err := tx.Exec(ctx, `CREATE INDEX linked_accounts_search ON linked_accounts USING gin (search_trgm gin_trgm_ops)`)
	return err
}

// afterMigration holds the steps in Go of migrations that need one, run in
// the migration's transaction after its SQL.
var afterMigration = map[int]func(context.Context, pgx.Tx) error{
	19: fillSearch,
	29: fillTrigrams,
}
