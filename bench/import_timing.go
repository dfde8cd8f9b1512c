package main

import (
	"context"
	"sync"
	"time"

	"github.com/linkd-dev/linkd"
)

// timedStore passes every call to the store under test and times the ones
// an import makes, so that a run's wall time can be split into its parts
// without a profiler. It costs a few clock reads per batch of 2000 rows.
type timedStore struct {
	linkd.Store
	mu sync.Mutex
	t  storeTimes
}

// storeTimes is where an import's time went, in seconds of wall time.
type storeTimes struct {
	AppendChunks  int     `json:"append_chunks"`
	AppendSeconds float64 `json:"append_seconds"` // Upload: storing the file's chunks
	ChunkReads    int     `json:"chunk_reads"`
	ChunkSeconds  float64 `json:"chunk_seconds"` // run: reading them back (on the parsing goroutine)
	Batches       int     `json:"batches"`
	BatchSeconds  float64 `json:"batch_seconds"` // run: in CommitImportBatch, all of it
	// The parts of BatchSeconds: until the batch function is called
	// (checking the lease, looking up or locking the batch's ids), in it
	// (deciding each row, as the API would), and after it (writing the
	// accounts, the counts, the job's progress, and the commit).
	LookupSeconds float64 `json:"lookup_seconds"`
	DecideSeconds float64 `json:"decide_seconds"`
	WriteSeconds  float64 `json:"write_seconds"`
	FinishSeconds float64 `json:"finish_seconds"` // FinishImportJob: the audit entry, deleting the file
}

func (s *timedStore) add(f func(t *storeTimes)) {
	s.mu.Lock()
	f(&s.t)
	s.mu.Unlock()
}

func (s *timedStore) times() storeTimes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}

func (s *timedStore) AppendImportChunk(ctx context.Context, t linkd.Tenant, jobID string, seq int, data []byte) error {
	t0 := time.Now()
	err := s.Store.AppendImportChunk(ctx, t, jobID, seq, data)
	d := time.Since(t0).Seconds()
	s.add(func(t *storeTimes) { t.AppendChunks++; t.AppendSeconds += d })
	return err
}

func (s *timedStore) ImportChunk(ctx context.Context, jobID string, seq int) ([]byte, error) {
	t0 := time.Now()
	data, err := s.Store.ImportChunk(ctx, jobID, seq)
	d := time.Since(t0).Seconds()
	s.add(func(t *storeTimes) { t.ChunkReads++; t.ChunkSeconds += d })
	return data, err
}

func (s *timedStore) CommitImportBatch(ctx context.Context, j *linkd.ImportJob, owner string, ids []string, fn linkd.ImportBatchFunc, now time.Time, lease time.Duration) (*linkd.ImportJob, error) {
	var decide time.Duration
	var fnEnd time.Time
	t0 := time.Now()
	out, err := s.Store.CommitImportBatch(ctx, j, owner, ids, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		f0 := time.Now()
		b, err := fn(cur)
		fnEnd = time.Now()
		decide += fnEnd.Sub(f0)
		return b, err
	}, now, lease)
	t1 := time.Now()
	total := t1.Sub(t0)
	var write time.Duration
	if !fnEnd.IsZero() {
		write = t1.Sub(fnEnd)
	}
	s.add(func(t *storeTimes) {
		t.Batches++
		t.BatchSeconds += total.Seconds()
		t.DecideSeconds += decide.Seconds()
		t.WriteSeconds += write.Seconds()
		t.LookupSeconds += (total - decide - write).Seconds()
	})
	return out, err
}

func (s *timedStore) FinishImportJob(ctx context.Context, j *linkd.ImportJob, owner, state, message string, ev *linkd.AuditEntry, now time.Time) (*linkd.ImportJob, error) {
	t0 := time.Now()
	out, err := s.Store.FinishImportJob(ctx, j, owner, state, message, ev, now)
	d := time.Since(t0).Seconds()
	s.add(func(t *storeTimes) { t.FinishSeconds += d })
	return out, err
}

// progressPoint is how far a job had come at a moment of its run.
type progressPoint struct {
	Seconds float64 `json:"seconds"`
	Rows    int64   `json:"rows"`
	RSSMiB  float64 `json:"rss_mib"`
}

// watchProgress reads the job's committed progress every interval until
// stop is called, so that a run that slows down as the table grows shows it.
func watchProgress(ctx context.Context, s linkd.Store, t linkd.Tenant, jobID string, interval time.Duration, logf func(string, ...any)) (stop func() []progressPoint) {
	var pts []progressPoint
	var last progressPoint
	t0 := time.Now()
	stopTicks := every(ctx, interval, func() {
		j, err := s.ImportJob(ctx, t, jobID)
		if err != nil {
			return
		}
		p := progressPoint{Seconds: time.Since(t0).Seconds(), Rows: j.RowsProcessed, RSSMiB: float64(readMem().rss) / (1 << 20)}
		logf("  … %d rows after %.0fs (%s rows/s in the last %.0fs); RSS %.0f MiB", p.Rows, p.Seconds,
			thousands(float64(p.Rows-last.Rows)/(p.Seconds-last.Seconds)), p.Seconds-last.Seconds, p.RSSMiB)
		pts = append(pts, p)
		last = p
	})
	return func() []progressPoint {
		stopTicks()
		return pts
	}
}

// every calls fn every interval on a goroutine of its own until ctx ends or
// stop is called; stop returns once fn will not be called again.
func every(ctx context.Context, interval time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				fn()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
