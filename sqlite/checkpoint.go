package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// checkpointEvery bounds how often the WAL is checkpointed. A burst of
// deletes (a bulk delete) costs one checkpoint per interval, not one each,
// and so do the commits of an import: a page that several batches in a row
// rewrote (the random-key index, the search index) is copied back to the
// database file once per interval instead of once per batch.
const checkpointEvery = time.Second

// walBackstop is the writer's own wal_autocheckpoint, in pages: it only
// acts when the WAL grows past 256 MiB between two of the checkpointer's
// rounds (the checkpointer cannot keep up, or has stopped).
const walBackstop = 65536

// truncateEvery spaces the truncating checkpoints that deletions ask for.
// Each one holds the writer, and every write behind it, while it waits for
// readers of older snapshots, copies the rest of the WAL and syncs: 30–190
// ms each on a busy 2-core machine. A steady stream of deletes (the soak's
// 5 %) asked for one every second, and the writer spent about 8 % of its
// time in them. A deleted row's old page images stay in the WAL this much
// longer at most.
const truncateEvery = 5 * time.Second

// checkpointer copies the WAL back to the database file in the background,
// so that the writer does not: SQLite's automatic checkpoint runs inside
// the commit that passes 1,000 pages of WAL, which an import's every batch
// of 2,000 random ids did, and the writer, with every write behind it,
// waited on the copy and its fsync (11 % of an import's CPU in the commit).
// Here a passive checkpoint runs on a connection of its own, on the other
// core, at most once per checkpointEvery after commits; it never blocks the
// writer or readers.
//
// After deletions it also truncates the WAL, at most once per
// truncateEvery. secure_delete zeroes a deleted row in the database file,
// but the WAL keeps the page images it had before (the deleted name, its
// UDFs) until a checkpoint copies the new ones back and the log is reset:
// without this they would linger until enough other writes recycle the log.
type checkpointer struct {
	db       *sql.DB       // one connection, for passive checkpoints
	wake     chan struct{} // capacity 1: wakes coalesce
	commits  chan struct{} // capacity 1: likewise
	stop     chan struct{}
	stopped  chan struct{}
	truncate bool // set by a wake until the round that handles it
}

func (s *Store) startCheckpointer(db *sql.DB) {
	s.ckpt = &checkpointer{db: db, wake: make(chan struct{}, 1), commits: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpointLoop()
}

func (s *Store) stopCheckpointer() error {
	if s.ckpt == nil {
		return nil
	}
	close(s.ckpt.stop)
	<-s.ckpt.stopped
	return s.ckpt.db.Close()
}

// checkpointSoon asks for a truncating checkpoint; it never blocks.
func (s *Store) checkpointSoon() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt.wake <- struct{}{}:
	default:
	}
}

// committed tells the checkpointer that the WAL grew; it never blocks.
func (s *Store) committed() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt.commits <- struct{}{}:
	default:
	}
}

func (s *Store) checkpointLoop() {
	c := s.ckpt
	defer close(c.stopped)
	var lastTruncate time.Time
	var due <-chan time.Time // a waiting truncation may run
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
			c.truncate = true
		case <-c.commits:
		case <-due:
		}
		// A wake that came in while waiting for a commit's round is not
		// lost: it is in the channel, or taken here.
		select {
		case <-c.wake:
			c.truncate = true
		default:
		}
		// Copy what can be copied without blocking anyone first: the
		// truncation that may follow then has little left to copy while
		// the writer waits on it.
		s.passiveCheckpoint()
		due = nil
		if c.truncate {
			if wait := truncateEvery - time.Since(lastTruncate); wait > 0 {
				due = time.After(wait)
			} else {
				lastTruncate = time.Now()
				if s.checkpoint() {
					c.truncate = false
				} else {
					// A reader held an old snapshot: try again later.
					due = time.After(truncateEvery)
				}
			}
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// passiveCheckpoint copies what it can of the WAL to the database file
// without waiting for, or making wait, any reader or the writer. Once all
// of it is copied, the writer's next commit starts the log over.
func (s *Store) passiveCheckpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, logFrames, done int
	began := time.Now()
	s.ckpt.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
	s.observeCheckpoint(CheckpointStats{Mode: "passive", Took: time.Since(began), Busy: done < logFrames})
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
	began := time.Now()
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return false
	}
	s.observeCheckpoint(CheckpointStats{Mode: "truncate", Took: time.Since(began), Busy: busy != 0})
	return busy == 0
}
