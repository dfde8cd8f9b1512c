package sqlite

import (
	"sync/atomic"
	"time"
)

// WriteStats describes one transaction of the writer: the requests that
// group commit ran together, how long running them took (and the slowest
// of them) and how long the commit took. The writer is SQLite's one bottleneck, and every write
// waits behind the one running: an operator whose write latency rises
// needs to see whether the writer is busy with many requests, with a few
// slow ones, or in its commits (the WAL append, and the backstop checkpoint
// when the checkpointer falls far behind).
type WriteStats struct {
	Requests int
	Work     time.Duration
	Slowest  time.Duration
	Commit   time.Duration
}

// CheckpointStats describes one checkpoint of the WAL: its mode (passive,
// on the checkpointer's own connection; truncate, on the writer's, holding
// every write meanwhile), how long it took, and whether a reader kept it
// from finishing.
type CheckpointStats struct {
	Mode string
	Took time.Duration
	Busy bool
}

// Observer receives what the writer and the checkpointer did. Its
// functions run on the writer's goroutine (or the checkpointer's) and must
// be quick.
type Observer struct {
	Write      func(WriteStats)
	Checkpoint func(CheckpointStats)
}

// Observe sets the observer; call it before the store is used. A nil
// function is not called.
func (s *Store) Observe(o Observer) { s.observer.Store(&o) }

type observer = atomic.Pointer[Observer]

func (s *Store) observeWrite(w WriteStats) {
	if o := s.observer.Load(); o != nil && o.Write != nil {
		o.Write(w)
	}
}

func (s *Store) observeCheckpoint(c CheckpointStats) {
	if o := s.observer.Load(); o != nil && o.Checkpoint != nil {
		o.Checkpoint(c)
	}
}
