package linkd

import (
	"context"
	"time"
)

// DeliveryRetentionStore is what the log retention asks of the stores.
type DeliveryRetentionStore interface {
	// PurgeDeliveries deletes, for every tenant and in batches, the
	// finished (succeeded or failed) deliveries that finished before
	// before, their attempts, and the events no delivery refers to any
	// more. Pending deliveries and their events stay, however old: an
	// event is kept until it has been delivered or has failed for good.
	// It returns how many deliveries it deleted.
	PurgeDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// Purge deletes the delivery log older than before (LINKD_LOG_RETENTION):
// finished deliveries, their attempts and the events nothing waits for.
func (s *WebhookService) Purge(ctx context.Context, before time.Time) (int64, error) {
	return s.store.PurgeDeliveries(ctx, before)
}
