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
		res, err := tx.ExecContext(ctx, `INSERT INTO schedule_ticks (name, slot, owner, fired_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			name, micros(slot), owner, micros(time.Now()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if won = n == 1; won {
			_, err = tx.ExecContext(ctx, `DELETE FROM schedule_ticks WHERE name = ? AND slot < ?`, name, micros(slot.Add(-tickMemory)))
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim tick %s: %w", name, err)
	}
	return won, nil
}
