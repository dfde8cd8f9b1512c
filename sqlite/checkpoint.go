package sqlite

import (
	"context"
	"time"
)

// checkpointEvery bounds how often deletions checkpoint the WAL. A burst of
// deletes (a bulk delete) costs one checkpoint per interval, not one each.
const checkpointEvery = time.Second

// checkpointer truncates the WAL after deletions. secure_delete zeroes a
// deleted row in the database file, but the WAL keeps the page images it
// had before (the deleted name, its UDFs) until a checkpoint copies the new
// ones back and the log is reset: without this they would linger until
// enough other writes recycle the log. One goroutine does the work, woken
// by deletes, so deleting stays as fast as it was.
type checkpointer struct {
	wake    chan struct{} // capacity 1: wakes coalesce
	stop    chan struct{}
	stopped chan struct{}
}

func (s *Store) startCheckpointer() {
	s.ckpt = &checkpointer{wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpointLoop()
}

func (s *Store) stopCheckpointer() {
	if s.ckpt != nil {
		close(s.ckpt.stop)
		<-s.ckpt.stopped
	}
}

// checkpointSoon asks for a checkpoint; it never blocks.
func (s *Store) checkpointSoon() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt.wake <- struct{}{}:
	default:
	}
}

func (s *Store) checkpointLoop() {
	defer close(s.ckpt.stopped)
	for {
		select {
		case <-s.ckpt.stop:
			return
		case <-s.ckpt.wake:
		}
		if !s.checkpoint() {
			// A reader held an old snapshot: try again next round.
			s.checkpointSoon()
		}
		select {
		case <-s.ckpt.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpoint runs wal_checkpoint(TRUNCATE) on the writer connection, and
// reports whether it completed. TRUNCATE waits for readers of older
// snapshots (busy_timeout); the wait is cut to a second for it, since the
// writer connection, and with it every write, waits meanwhile.
func (s *Store) checkpoint() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 1000`); err != nil {
		return false
	}
	defer conn.ExecContext(ctx, `PRAGMA busy_timeout = 10000`)
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return false
	}
	return busy == 0
}
