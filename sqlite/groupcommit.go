package sqlite

import (
	"context"
	"fmt"
	"time"
)

// SQLite has one writer, and each transaction pays for BEGIN, COMMIT and the
// WAL frames it writes. Under concurrent load the store therefore runs the
// write transactions that are waiting at the same moment as one transaction,
// each inside a savepoint of its own: a request that fails rolls back to its
// savepoint and gets its error, the others commit together. Nothing waits to
// form a batch: a lone request runs at once, and a batch is simply whatever
// queued up while the previous one ran.

// maxGroup bounds how many transactions commit together.
const maxGroup = 128

type writeReq struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
}

// startGroupCommit starts the goroutine that runs write transactions.
func (s *Store) startGroupCommit() {
	s.writes = make(chan *writeReq, maxGroup)
	s.wstmts = newWriteStmts(s.write)
	s.stopped = make(chan struct{})
	go func() {
		defer close(s.stopped)
		for first := range s.writes {
			group := []*writeReq{first}
		drain:
			for len(group) < maxGroup {
				select {
				case r, ok := <-s.writes:
					if !ok {
						break drain
					}
					group = append(group, r)
				default:
					break drain
				}
			}
			s.runGroup(group)
		}
	}()
}

// stopGroupCommit lets queued transactions finish and stops the goroutine.
func (s *Store) stopGroupCommit() {
	if s.writes != nil {
		close(s.writes)
		<-s.stopped
		s.wstmts.close()
	}
}

// tx runs fn in a write transaction, committed when fn returns nil and rolled
// back (to its savepoint) on error or panic. fn runs exactly once.
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.writes <- r
	// Once queued, the transaction runs even if ctx ends meanwhile, like a
	// write whose client hung up during the commit: the caller learns the
	// outcome either way.
	return diskFull(<-r.done)
}

// runGroup runs a group of transactions as one.
func (s *Store) runGroup(group []*writeReq) {
	// Statements run with contexts that cannot be cancelled: cancelling one
	// would interrupt the shared connection, and with it the others' work.
	ctx := context.WithoutCancel(group[0].ctx)
	began := time.Now()
	if stmtHook != nil {
		stmtHook("BEGIN")
	}
	stx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range group {
			r.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	tx := newWtx(stx, s.hooks)
	tx.kept = s.wstmts
	results := make([]error, len(group))
	ok := 0
	var slowest time.Duration
	for i, r := range group {
		t0 := time.Now()
		if len(group) == 1 {
			results[i] = call(r.fn, tx)
		} else {
			results[i] = savepoint(ctx, tx, r.fn)
		}
		slowest = max(slowest, time.Since(t0))
		if results[i] == nil {
			ok++
		}
	}
	if ok > 0 {
		// The search index takes the group's changes at once, after the
		// last request: a request that rolled back has left none.
		if err := applySearchQueue(ctx, tx); err != nil {
			for i := range results {
				if results[i] == nil {
					results[i], ok = err, ok-1
				}
			}
		}
	}
	worked := time.Now()
	if stmtHook != nil {
		stmtHook("COMMIT")
	}
	if ok == 0 {
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
		}
	} else {
		s.committed()
		// A request of the group that rolled back to its savepoint may
		// have marked work too: a spurious signal costs the loop one
		// claim that finds nothing.
		for _, k := range tx.marks.Kinds() {
			s.work.Notify(k)
		}
	}
	if stmtHook != nil {
		stmtHook("")
	}
	s.observeWrite(WriteStats{Requests: len(group), Work: worked.Sub(began), Slowest: slowest, Commit: time.Since(worked)})
	for i, r := range group {
		r.done <- results[i]
	}
	// After the answers: the requests need not wait for it.
	s.wstmts.prepareWanted(ctx)
}

// savepoint runs fn inside a savepoint, undoing its writes when it fails.
func savepoint(ctx context.Context, tx *wtx, fn func(*wtx) error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := call(fn, tx); err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO w`); rerr != nil {
			return fmt.Errorf("%w (and rollback to savepoint: %v)", err, rerr)
		}
		tx.ExecContext(ctx, `RELEASE w`)
		return err
	}
	if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// call runs fn, turning a panic into an error so that one request's bug does
// not take the others' transactions with it.
func call(fn func(*wtx) error, tx *wtx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	return fn(tx)
}
