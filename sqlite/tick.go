package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

var _ linkd.TickStore = (*Store)(nil)

// tickMemory is how long fired ticks are remembered.
const tickMemory = 7 * 24 * time.Hour

// ClaimTick implements linkd.TickStore.
func (s *Store) ClaimTick(ctx context.Context, name string, slot time.Time, owner string) (bool, error) {
	var won bool
	err := s.tx(ctx, func(tx *wtx) error {
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
func claimTick(ctx context.Context, tx *wtx, name string, slot time.Time, owner string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO schedule_ticks (name, slot, owner, fired_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		name, micros(slot), owner, micros(time.Now()))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM schedule_ticks WHERE name = ? AND slot < ?`, name, micros(slot.Add(-tickMemory)))
	return err == nil, err
}
