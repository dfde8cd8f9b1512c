package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// workChannel is the LISTEN/NOTIFY channel on which instances tell each
// other that a commit made background work; the payload is its kind.
const workChannel = "linkd_work"

// notifyEvery is the least time between two notifications one instance
// sends. Commits that NOTIFY take a lock that serialises them with every
// other notifying commit, so the notification is not sent inside the
// change's transaction: the instance sends it after the commit, coalesced,
// at most 1/notifyEvery times a second however fast it commits.
const notifyEvery = 10 * time.Millisecond

// signals is a store's side of linkd.WorkSignals: the callbacks, the
// connection that listens for other instances' notifications, and the
// goroutine that sends this instance's.
type signals struct {
	work    linkd.WorkListeners
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	listen  sync.Once
	send    sync.Once
	bell    chan struct{}
	mu      sync.Mutex
	pending linkd.WorkMarks
}

func newSignals() *signals {
	ctx, stop := context.WithCancel(context.Background())
	return &signals{ctx: ctx, stop: stop, bell: make(chan struct{}, 1)}
}

// close stops the listener and the sender and waits for them.
func (g *signals) close() {
	g.stop()
	g.wg.Wait()
}

// markTx is a transaction that records the work it makes, so that tx can
// signal it after the commit.
type markTx struct {
	pgx.Tx
	marks linkd.WorkMarks
}

// markWork records that the transaction q made work of kind; q that is
// not a store transaction (a plain pool call) records nothing, and its
// caller signals itself.
func markWork(q any, kind linkd.WorkKind) {
	if m, ok := q.(*markTx); ok {
		m.marks.Mark(kind)
	}
}

// OnWork implements linkd.WorkSignals: fn runs after this instance's
// commits that made work of kind, and when another instance's
// notification arrives on workChannel.
func (s *Store) OnWork(kind linkd.WorkKind, fn func()) {
	s.sig.work.OnWork(kind, fn)
	s.sig.listen.Do(func() {
		s.sig.wg.Add(1)
		go s.listenForWork()
	})
}

// signal tells this instance's loops now, and the other instances soon,
// that a commit made work of the kinds given.
func (s *Store) signal(kinds ...linkd.WorkKind) {
	if len(kinds) == 0 {
		return
	}
	s.sig.mu.Lock()
	for _, k := range kinds {
		s.sig.pending.Mark(k)
	}
	s.sig.mu.Unlock()
	for _, k := range kinds {
		s.sig.work.Notify(k)
	}
	s.sig.send.Do(func() {
		s.sig.wg.Add(1)
		go s.sendNotifications()
	})
	select {
	case s.sig.bell <- struct{}{}:
	default:
	}
}

// sendNotifications sends the pending kinds on workChannel, coalescing
// what is signalled while it sends or waits.
func (s *Store) sendNotifications() {
	defer s.sig.wg.Done()
	ctx := s.sig.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.sig.bell:
		}
		s.sig.mu.Lock()
		kinds := s.sig.pending.Kinds()
		s.sig.pending = linkd.WorkMarks{}
		s.sig.mu.Unlock()
		for _, k := range kinds {
			// Lost on error: the other instances find the work at their
			// next poll.
			s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, workChannel, string(k))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyEvery):
		}
	}
}

// listenForWork holds a connection of its own (outside the pool) that
// listens on workChannel and calls the callbacks of each kind notified.
// When the connection fails it reconnects with a growing pause, and then
// signals every kind once: notifications sent meanwhile were missed.
func (s *Store) listenForWork() {
	defer s.sig.wg.Done()
	ctx := s.sig.ctx
	pause := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		up := s.listenOnce(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		if up {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// listenOnce listens on one connection until it fails; it reports whether
// the connection was up (so the caller's pause starts small again). After
// a reconnection (again) it signals every kind.
func (s *Store) listenOnce(ctx context.Context, again bool) (up bool) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+workChannel); err != nil {
		return false
	}
	if again {
		s.sig.work.NotifyAll()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		s.sig.work.Notify(linkd.WorkKind(n.Payload))
	}
}
