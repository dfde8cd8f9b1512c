package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// purgeDeliveriesBatch bounds one purge transaction, so that the hourly
// purge never holds the write lock long enough for writers to notice.
const purgeDeliveriesBatch = 500

// deliveryKey names one delivery.
type deliveryKey struct{ org, env, webhook, event string }

// PurgeDeliveries implements linkd.DeliveryRetentionStore.
func (s *Store) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	bound := micros(before)
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *wtx) error {
			rows, err := tx.QueryContext(ctx, `DELETE FROM webhook_deliveries WHERE rowid IN (
				SELECT rowid FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ? LIMIT ?)
				RETURNING org_id, env, webhook_id, event_id`, bound, purgeDeliveriesBatch)
			if err != nil {
				return fmt.Errorf("purge deliveries: %w", err)
			}
			var keys []deliveryKey
			for rows.Next() {
				var k deliveryKey
				if err := rows.Scan(&k.org, &k.env, &k.webhook, &k.event); err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, k)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("purge deliveries: %w", err)
			}
			n = int64(len(keys))
			for _, k := range keys {
				if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE org_id = ? AND env = ? AND webhook_id = ? AND event_id = ?`,
					k.org, k.env, k.webhook, k.event); err != nil {
					return fmt.Errorf("purge attempts: %w", err)
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE org_id = ? AND env = ? AND id = ?
					AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.org_id = ? AND d.env = ? AND d.event_id = ?)`,
					k.org, k.env, k.event, k.org, k.env, k.event); err != nil {
					return fmt.Errorf("purge events: %w", err)
				}
			}
			return nil
		})
		total += n
		if err != nil || n < purgeDeliveriesBatch {
			if err == nil && total > 0 {
				s.checkpointSoon()
			}
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
func deleteAccountEvents(ctx context.Context, tx *wtx, t linkd.Tenant, accountID string) error {
	const done = `SELECT e.id FROM webhook_events e WHERE e.org_id = ? AND e.env = ? AND e.account_id = ?
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.org_id = e.org_id AND p.env = e.env AND p.event_id = e.id AND p.state = 'pending')`
	for _, q := range []string{
		`DELETE FROM webhook_attempts WHERE (org_id, env, webhook_id, event_id) IN (
			SELECT d.org_id, d.env, d.webhook_id, d.event_id FROM webhook_deliveries d WHERE d.org_id = ? AND d.env = ? AND d.event_id IN (` + done + `))`,
		`DELETE FROM webhook_deliveries WHERE org_id = ? AND env = ? AND event_id IN (` + done + `)`,
		`DELETE FROM webhook_events WHERE org_id = ? AND env = ? AND id IN (` + done + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q, t.OrgID, t.Env, t.OrgID, t.Env, accountID); err != nil {
			return fmt.Errorf("delete account %q: webhook events: %w", accountID, err)
		}
	}
	return nil
}
