package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
)

var _ linkd.TickStore = (*Store)(nil)

// tickMemory is how long fired ticks are remembered.
const tickMemory = 7 * 24 * time.Hour

// ClaimTick implements linkd.TickStore.
func (s *Store) ClaimTick(ctx context.Context, name string, slot time.Time, owner string) (bool, error) {
	var won bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		won, err = claimTick(ctx, tx, name, slot, owner)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim tick %s: %w", name, err)
	}
	return won, nil
}

// claimTick records owner's claim of the tick in tx, forgetting the
// schedule's ticks older than tickMemory when it wins.
func claimTick(ctx context.Context, tx pgx.Tx, name string, slot time.Time, owner string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO schedule_ticks (name, slot, owner, fired_at) VALUES ($1, $2, $3, now()) ON CONFLICT DO NOTHING`,
		name, slot, owner)
	if err != nil || tag.RowsAffected() != 1 {
		return false, err
	}
	_, err = tx.Exec(ctx, `DELETE FROM schedule_ticks WHERE name = $1 AND slot < $2`, name, slot.Add(-tickMemory))
	return err == nil, err
}
