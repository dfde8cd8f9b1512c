package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// QueueScheduledRuns implements linkd.ExecutionStore: the period's tick,
// then the schedule's earlier ticks left unfinished. Each batch reads its
// configs and queues their runs in one write transaction, so its configs
// cannot change (nor their accounts go) in between, and holds the writer
// for one batch only, not the whole tick.
func (s *Store) QueueScheduledRuns(ctx context.Context, k linkd.ScheduledTick,
	run func(linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error)) (linkd.TickFired, error) {
	var f linkd.TickFired
	err := s.fireTick(ctx, k, k.Slot, true, run, &f)
	if err == nil {
		var slots []time.Time
		if slots, err = s.unfinishedTicks(ctx, k); err == nil {
			for _, slot := range slots {
				if err = s.fireTick(ctx, k, slot, false, run, &f); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		return f, fmt.Errorf("queue scheduled runs of %s: %w", k.Name, err)
	}
	return f, nil
}

// unfinishedTicks returns the periods of k's schedule before k.Slot,
// within tickMemory, whose ticks are unfinished, oldest first.
func (s *Store) unfinishedTicks(ctx context.Context, k linkd.ScheduledTick) ([]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT slot FROM schedule_ticks WHERE name = ? AND done = 0 AND slot < ? AND slot >= ? ORDER BY slot`,
		k.Name, micros(k.Slot), micros(k.Slot.Add(-tickMemory)))
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, fromMicros(us))
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// tickCursor is the last config a tick queued (org empty: none yet).
type tickCursor struct {
	org, env, accountPK, configID sql.NullString
}

// fireTick fires the tick of k's schedule for slot, a batch per
// transaction, until it is done, held by another owner, or fails; claim
// says to claim it first (the period being fired). It adds to f what it
// did.
func (s *Store) fireTick(ctx context.Context, k linkd.ScheduledTick, slot time.Time, claim bool,
	run func(linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error), f *linkd.TickFired) error {
	for first := true; ; first = false {
		var n int
		var won, held, done bool
		var busy time.Time
		err := s.tx(ctx, func(tx *wtx) error {
			now := linkd.NowOf(k.Now)
			until := k.LeaseUntil(now)
			var cur tickCursor
			var err error
			if first {
				if won, held, cur, busy, err = takeTick(ctx, tx, k, slot, claim, now, until); err != nil || !held {
					return err
				}
			} else {
				err := tx.QueryRowContext(ctx, `UPDATE schedule_ticks SET lease_until = ? WHERE name = ? AND slot = ? AND done = 0 AND lease_owner = ?
					RETURNING after_org, after_env, after_account_pk, after_config_id`, micros(until), k.Name, micros(slot), k.Owner).
					Scan(&cur.org, &cur.env, &cur.accountPK, &cur.configID)
				if errors.Is(err, sql.ErrNoRows) {
					return &linkd.Error{Code: linkd.ECONFLICT, Message: "another instance took the tick over"}
				} else if err != nil {
					return err
				}
				held = true
			}
			n, done, err = queueTickBatch(ctx, tx, k, slot, cur, run)
			return err
		})
		if err != nil {
			return err
		}
		f.Won = f.Won || won
		if !busy.IsZero() && (f.Busy.IsZero() || busy.Before(f.Busy)) {
			f.Busy = busy
		}
		f.Queued += n
		if !held || done {
			return nil
		}
	}
}

// takeTick claims the tick of k's schedule for slot (when claim) or takes
// it over: it is k.Owner's already (an attempt that failed), or its lease
// ran out unfinished. held says the tick is k.Owner's now, to go on from
// cur; busy is when another owner's lease of it runs out, when it holds
// the tick unfinished.
func takeTick(ctx context.Context, tx *wtx, k linkd.ScheduledTick, slot time.Time, claim bool, now, until time.Time) (won, held bool, cur tickCursor, busy time.Time, err error) {
	if claim {
		res, err := tx.ExecContext(ctx, `INSERT INTO schedule_ticks (name, slot, owner, fired_at, done, lease_owner, lease_until)
			VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`, k.Name, micros(slot), k.Owner, micros(time.Now()), k.Owner, micros(until))
		if err != nil {
			return false, false, cur, busy, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.ExecContext(ctx, `DELETE FROM schedule_ticks WHERE name = ? AND slot < ?`, k.Name, micros(slot.Add(-tickMemory)))
			return err == nil, err == nil, cur, busy, err
		}
	}
	err = tx.QueryRowContext(ctx, `UPDATE schedule_ticks SET lease_owner = ?, lease_until = ?
		WHERE name = ? AND slot = ? AND done = 0 AND (lease_owner = ? OR lease_until < ?)
		RETURNING after_org, after_env, after_account_pk, after_config_id`, k.Owner, micros(until), k.Name, micros(slot), k.Owner, micros(now)).
		Scan(&cur.org, &cur.env, &cur.accountPK, &cur.configID)
	if err == nil {
		return false, true, cur, busy, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return false, false, cur, busy, err
	}
	var us int64
	err = tx.QueryRowContext(ctx, `SELECT lease_until FROM schedule_ticks WHERE name = ? AND slot = ? AND done = 0`, k.Name, micros(slot)).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, cur, busy, nil
	}
	return false, false, cur, fromMicros(us), err
}

// queueTickBatch queues the runs of the next batch of the tick's configs
// after cur, in key order, and records how far the tick got: done when
// the batch is short.
func queueTickBatch(ctx context.Context, tx *wtx, k linkd.ScheduledTick, slot time.Time, cur tickCursor,
	run func(linkd.ScheduledConfig) (*linkd.Execution, *linkd.AuditEntry, error)) (int, bool, error) {
	// The order is configs_account's, slug included (one value here), so
	// that each batch seeks to its cursor in the index instead of reading
	// the configs before it again.
	keyset, args := "", []any{k.Slug, k.WorkflowID}
	if cur.org.Valid {
		keyset = `AND (c.org_id, c.env, c.account_pk, c.slug, c.config_id) > (?, ?, ?, ?, ?)`
		args = append(args, cur.org.String, cur.env.String, cur.accountPK.String, k.Slug, cur.configID.String)
	}
	rows, err := tx.QueryContext(ctx, `SELECT c.org_id, c.env, c.account_pk, a.account_id, c.config_id FROM configs c
		JOIN linked_accounts a ON a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk
		WHERE c.slug = ? AND EXISTS (SELECT 1 FROM json_each(c.workflows) w
			WHERE json_extract(w.value, '$.id') = ? AND json_extract(w.value, '$.enabled')) `+keyset+`
		ORDER BY c.org_id, c.env, c.account_pk, c.slug, c.config_id LIMIT ?`, append(args, k.BatchSize())...)
	if err != nil {
		return 0, false, err
	}
	var cfgs []linkd.ScheduledConfig
	for rows.Next() {
		c := linkd.ScheduledConfig{Slot: slot}
		if err := rows.Scan(&c.Tenant.OrgID, &c.Tenant.Env, &c.AccountPK, &c.AccountID, &c.ConfigID); err != nil {
			rows.Close()
			return 0, false, err
		}
		cfgs = append(cfgs, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, false, err
	}
	for _, c := range cfgs {
		e, ev, err := run(c)
		if err != nil {
			return 0, false, err
		}
		e.AccountPK = c.AccountPK
		if err := insertExecutions(ctx, tx, c.Tenant, []*linkd.Execution{e}); err != nil {
			return 0, false, err
		}
		if err := insertAudit(ctx, tx, c.Tenant, ev); err != nil {
			return 0, false, err
		}
	}
	done := len(cfgs) < k.BatchSize()
	if len(cfgs) > 0 {
		last := cfgs[len(cfgs)-1]
		_, err = tx.ExecContext(ctx, `UPDATE schedule_ticks SET done = ?, after_org = ?, after_env = ?, after_account_pk = ?, after_config_id = ?
			WHERE name = ? AND slot = ?`, done, last.Tenant.OrgID, last.Tenant.Env, last.AccountPK, last.ConfigID, k.Name, micros(slot))
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE schedule_ticks SET done = 1 WHERE name = ? AND slot = ?`, k.Name, micros(slot))
	}
	return len(cfgs), done, err
}
