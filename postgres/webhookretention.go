package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// purgeDeliveriesBatch bounds one purge transaction.
const purgeDeliveriesBatch = 500

// PurgeDeliveries implements linkd.DeliveryRetentionStore.
func (s *Store) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx pgx.Tx) error {
			// The outer conditions are checked again on rows another
			// transaction changed meanwhile (a redelivery makes one
			// pending again); SKIP LOCKED leaves rows being sent alone.
			rows, err := tx.Query(ctx, `WITH d AS (
				DELETE FROM webhook_deliveries WHERE (org_id, env, webhook_id, event_id) IN (
					SELECT org_id, env, webhook_id, event_id FROM webhook_deliveries
					WHERE state <> 'pending' AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
				AND state <> 'pending' AND updated_at < $1
				RETURNING org_id, env, webhook_id, event_id),
			a AS (DELETE FROM webhook_attempts x USING d
				WHERE x.org_id = d.org_id AND x.env = d.env AND x.webhook_id = d.webhook_id AND x.event_id = d.event_id)
			SELECT org_id, env, event_id FROM d`, before, purgeDeliveriesBatch)
			if err != nil {
				return fmt.Errorf("purge deliveries: %w", err)
			}
			var orgs, envs, events []string
			for rows.Next() {
				var org, env, event string
				if err := rows.Scan(&org, &env, &event); err != nil {
					rows.Close()
					return err
				}
				orgs, envs, events = append(orgs, org), append(envs, env), append(events, event)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("purge deliveries: %w", err)
			}
			n = int64(len(events))
			if n == 0 {
				return nil
			}
			// A second statement, so that it sees the deliveries deleted.
			if _, err := tx.Exec(ctx, `DELETE FROM webhook_events e
				WHERE (e.org_id, e.env, e.id) IN (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]))
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.org_id = e.org_id AND d.env = e.env AND d.event_id = e.id)`,
				orgs, envs, events); err != nil {
				return fmt.Errorf("purge events: %w", err)
			}
			return nil
		})
		total += n
		if err != nil || n < purgeDeliveriesBatch {
			return total, err
		}
	}
}

// deleteAccountEvents deletes, in the account delete's transaction, the
// kept events of the account (its external id) whose deliveries have all
// finished, with those deliveries and their attempts: the payloads go
// with the account. An event still pending keeps its payload (ids only)
// until it is delivered, so "Linked Account Deleted" and what came before
// it still arrive; retention removes it after.
func deleteAccountEvents(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountID string) error {
	_, err := tx.Exec(ctx, `WITH e AS (
			SELECT e.org_id, e.env, e.id FROM webhook_events e WHERE e.org_id = $1 AND e.env = $2 AND e.account_id = $3
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.org_id = e.org_id AND p.env = e.env AND p.event_id = e.id AND p.state = 'pending')
			FOR UPDATE),
		d AS (DELETE FROM webhook_deliveries d USING e WHERE d.org_id = e.org_id AND d.env = e.env AND d.event_id = e.id
			RETURNING d.org_id, d.env, d.webhook_id, d.event_id),
		a AS (DELETE FROM webhook_attempts x USING d
			WHERE x.org_id = d.org_id AND x.env = d.env AND x.webhook_id = d.webhook_id AND x.event_id = d.event_id)
		DELETE FROM webhook_events w USING e WHERE w.org_id = e.org_id AND w.env = e.env AND w.id = e.id`,
		t.OrgID, t.Env, accountID)
	if err != nil {
		return fmt.Errorf("delete account %q: webhook events: %w", accountID, err)
	}
	return nil
}
