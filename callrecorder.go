package linkd

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// CallRecorder defaults.
const (
	DefaultCallBuffer     = 10000
	DefaultCallBatch      = 500
	DefaultCallFlushEvery = 200 * time.Millisecond
	// callWriteTimeout bounds one batch write, so a stuck database cannot
	// hold the recorder (and Close) forever.
	callWriteTimeout = 30 * time.Second
)

// CallRecorderOptions tune a CallRecorder; zero values take the defaults.
type CallRecorderOptions struct {
	Buffer     int           // calls waiting to be written; more are dropped
	Batch      int           // calls per write, at most
	FlushEvery time.Duration // the longest a call waits to be written
	Logger     *slog.Logger
}

// CallRecorder writes the call log in the background. A call through the
// proxy must never wait on the log: Record hands the call to a buffered
// channel and returns, and one goroutine writes what has arrived in one
// batch every FlushEvery or Batch calls. When the database falls so far
// behind that the buffer is full, calls are dropped and counted (Dropped),
// never waited for: the log is for debugging, the calls are the product.
type CallRecorder struct {
	store   CallLogStore
	opts    CallRecorderOptions
	calls   chan AppCall
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Uint64
	failed  atomic.Uint64
	once    sync.Once
}

// Purge deletes the calls that started before before (retention): the
// hourly maintenance job runs it.
func (r *CallRecorder) Purge(ctx context.Context, before time.Time) (int64, error) {
	return r.store.PurgeCalls(ctx, before)
}

// NewCallRecorder starts a recorder writing to store; Close stops it.
func NewCallRecorder(store CallLogStore, o CallRecorderOptions) *CallRecorder {
	o.Buffer = cmp.Or(o.Buffer, DefaultCallBuffer)
	o.Batch = cmp.Or(o.Batch, DefaultCallBatch)
	o.FlushEvery = cmp.Or(o.FlushEvery, DefaultCallFlushEvery)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &CallRecorder{store: store, opts: o, calls: make(chan AppCall, o.Buffer), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues c to be written, or drops it when the buffer is full or
// the recorder is closed. It never blocks.
func (r *CallRecorder) Record(c AppCall) {
	if r.closed.Load() {
		r.dropped.Add(1)
		return
	}
	select {
	case r.calls <- c:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is how many calls were not logged because the buffer was full
// (or the recorder closed); a metric exports it.
func (r *CallRecorder) Dropped() uint64 { return r.dropped.Load() }

// Failed is how many calls were lost because their batch failed to write.
func (r *CallRecorder) Failed() uint64 { return r.failed.Load() }

// Close writes what is buffered and stops the recorder. The server calls
// it once the HTTP server has drained (no call can arrive after) and
// before the store closes. Calls recorded after Close are dropped.
func (r *CallRecorder) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		close(r.stop)
	})
	<-r.done
	return nil
}

func (r *CallRecorder) run() {
	defer close(r.done)
	batch := make([]AppCall, 0, r.opts.Batch)
	tick := time.NewTicker(r.opts.FlushEvery)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		r.write(batch)
		batch = batch[:0]
	}
	add := func(c AppCall) {
		batch = append(batch, c)
		if len(batch) >= r.opts.Batch {
			flush()
		}
	}
	for {
		select {
		case c := <-r.calls:
			add(c)
		case <-tick.C:
			flush()
		case <-r.stop:
			// Whatever is buffered now is all there will be: Record
			// refuses new calls once closed is set.
			for {
				select {
				case c := <-r.calls:
					add(c)
				default:
					flush()
					return
				}
			}
		}
	}
}

// write stores one batch; a failure is logged and the batch given up on
// (retrying would grow the backlog that the buffer exists to bound).
func (r *CallRecorder) write(batch []AppCall) {
	ctx, cancel := context.WithTimeout(context.Background(), callWriteTimeout)
	defer cancel()
	if err := r.store.AppendCalls(ctx, batch); err != nil {
		r.failed.Add(uint64(len(batch)))
		r.opts.Logger.Error("call log: a batch was not written", "calls", len(batch), "err", err)
	}
}
