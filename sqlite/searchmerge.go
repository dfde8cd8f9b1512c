package sqlite

import (
	"context"
	"time"

	"github.com/linkd-dev/linkd"
)

// The search index (FTS5) gains a segment with every batch an import
// writes, and its automatic merges keep only the number of segments per
// level small: after a million-row import a search still read each of its
// trigrams' entries from many segments. Merged into one, the scale
// benchmark's 1,000 searches at a million accounts ran in 3.9–4.5 s instead
// of 6.7 s, p99 16–18 ms instead of 25 (one client, docs/BENCHMARKS.md).
//
// So after an import that wrote a large share of the index, the store
// merges it in the background, in small steps, each a write transaction
// of its own through group commit: other writes wait for one step at most
// (a few tens of milliseconds), never for the whole merge (7.6 s of writer
// time at a million accounts). FTS5 keeps the merge's progress in the
// index itself, so a merge cut off by a restart goes on with the next.

// mergeStepPages is how many pages of merged index one step writes.
const mergeStepPages = 64

// mergePause is the pause between two steps, so that writes queued behind
// a step run before the next.
const mergePause = 20 * time.Millisecond

// mergeShare is the share of the index's accounts an import must have
// written to start a merge, which rewrites the whole index: its cost grows
// with the index, its gain with what the import added. mergeMinRows keeps
// small imports into a small database from merging every time.
var (
	mergeShare   = 0.05
	mergeMinRows = int64(10_000)
)

type searchMerger struct {
	wake    chan struct{} // capacity 1: wakes coalesce
	stop    chan struct{}
	stopped chan struct{}
}

func (s *Store) startSearchMerger() {
	s.merger = &searchMerger{wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.searchMergeLoop()
}

func (s *Store) stopSearchMerger() {
	if s.merger != nil {
		close(s.merger.stop)
		<-s.merger.stopped
	}
}

// importFinished starts a merge if the import wrote enough of the index.
func (s *Store) importFinished(ctx context.Context, j *linkd.ImportJob) {
	written := j.Created + j.Updated
	if s.merger == nil || written < mergeMinRows {
		return
	}
	var total int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM account_counts`).Scan(&total); err != nil {
		return // best effort: the automatic merges keep searches correct
	}
	if float64(written) < mergeShare*float64(total) {
		return
	}
	select {
	case s.merger.wake <- struct{}{}:
	default:
	}
}

func (s *Store) searchMergeLoop() {
	m := s.merger
	defer close(m.stopped)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.stop
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		s.MergeSearch(ctx)
	}
}

// MergeSearch merges the search index into one segment, step by step, and
// returns when it is (or ctx ends). The store does it by itself after
// large imports; the benchmark calls it on a database seeded before that.
func (s *Store) MergeSearch(ctx context.Context) error {
	for {
		more, err := s.mergeSearchStep()
		if err != nil || !more {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(mergePause):
		}
	}
}

// mergeSearchStep merges up to mergeStepPages pages of the search index's
// segments, of any level, in a write transaction of its own, and reports
// whether there was anything to merge.
func (s *Store) mergeSearchStep() (more bool, err error) {
	err = s.tx(context.Background(), func(tx *wtx) error {
		more, err = mergeSearch(context.Background(), tx, mergeStepPages)
		return err
	})
	return more, err
}

// mergeSearch runs FTS5's 'merge' command for up to pages pages, segments
// of any level eligible, and reports whether it did any work: the command
// changes rows only when it does, beyond its own row.
func mergeSearch(ctx context.Context, tx *wtx, pages int) (more bool, err error) {
	var before, after int64
	if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO account_search (account_search, rank) VALUES ('merge', ?)`, -pages); err != nil {
		return false, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
		return false, err
	}
	return after-before > 1, nil
}
