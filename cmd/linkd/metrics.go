package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/procfs"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/webhooks"
	"github.com/linkd-dev/linkd/workflow"
)

// registerStoreMetrics exposes the database pools' state: a pool that is
// always exhausted is the first thing to look at when latency rises. On
// SQLite it also times the writer (sqliteWriterMetrics).
func registerStoreMetrics(reg *prometheus.Registry, store linkd.Store, log *slog.Logger) {
	switch s := store.(type) {
	case *sqlite.Store:
		write, read := s.DBs()
		reg.MustRegister(collectors.NewDBStatsCollector(write, "sqlite_write"), collectors.NewDBStatsCollector(read, "sqlite_read"))
		s.Observe(sqliteWriterMetrics(reg, log))
	case *postgres.Store:
		gauge := func(name, help string, f func() float64) {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "linkd_pg_pool_" + name, Help: help}, f))
		}
		gauge("total_conns", "Connections in the PostgreSQL pool.", func() float64 { return float64(s.Stats().TotalConns()) })
		gauge("acquired_conns", "Connections in use.", func() float64 { return float64(s.Stats().AcquiredConns()) })
		gauge("idle_conns", "Idle connections.", func() float64 { return float64(s.Stats().IdleConns()) })
		gauge("max_conns", "Pool size limit.", func() float64 { return float64(s.Stats().MaxConns()) })
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "linkd_pg_pool_empty_acquire_total",
			Help: "Acquires that had to wait for a connection."}, func() float64 { return float64(s.Stats().EmptyAcquireCount()) }))
	}
}

// slowWriter is how long the SQLite writer may be held by one transaction
// or checkpoint before the log says so: every write waits behind it, so a
// stall this long shows in every write's latency.
const slowWriter = 500 * time.Millisecond

// sqliteWriterMetrics times SQLite's one writer: its transactions (the
// requests group commit ran together, the time running them and the time
// committing) and the WAL checkpoints, and logs a warning for any that held
// it past slowWriter.
func sqliteWriterMetrics(reg *prometheus.Registry, log *slog.Logger) sqlite.Observer {
	buckets := prometheus.ExponentialBuckets(0.0005, 4, 9) // 0.5 ms to 33 s
	tx := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linkd_sqlite_write_seconds",
		Help: "Time SQLite's writer spent per transaction, by phase (work: running the requests grouped into it; commit).", Buckets: buckets},
		[]string{"phase"})
	size := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linkd_sqlite_write_group_size",
		Help: "Write requests that group commit ran as one transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)})
	ckpt := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linkd_sqlite_checkpoint_seconds",
		Help: "Time of WAL checkpoints, by mode (passive: beside the writer; truncate: holding it).", Buckets: buckets},
		[]string{"mode"})
	reg.MustRegister(tx, size, ckpt)
	return sqlite.Observer{
		Write: func(w sqlite.WriteStats) {
			tx.WithLabelValues("work").Observe(w.Work.Seconds())
			tx.WithLabelValues("commit").Observe(w.Commit.Seconds())
			size.Observe(float64(w.Requests))
			if w.Work+w.Commit > slowWriter {
				log.Warn("slow SQLite write transaction: every write waited behind it", "requests", w.Requests,
					"work", w.Work.Round(time.Millisecond).String(), "slowest", w.Slowest.Round(time.Millisecond).String(), "commit", w.Commit.Round(time.Millisecond).String())
			}
		},
		Checkpoint: func(c sqlite.CheckpointStats) {
			ckpt.WithLabelValues(c.Mode).Observe(c.Took.Seconds())
			if c.Mode == "truncate" && c.Took > slowWriter {
				log.Warn("slow SQLite WAL truncation: every write waited behind it", "took", c.Took.Round(time.Millisecond).String(), "busy", c.Busy)
			}
		},
	}
}

// workerMetrics exports what the background loops do (worker.Observer):
// a kind of work that fails, stalls or piles up shows here first.
type workerMetrics struct {
	items    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  *prometheus.GaugeVec
}

func newWorkerMetrics(reg *prometheus.Registry) *workerMetrics {
	m := &workerMetrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_worker_items_total",
			Help: "Items of background work run, by loop (imports, bulk, refresh, revoke, webhooks) and outcome (ok, error: the run itself failed)."},
			[]string{"loop", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linkd_worker_item_duration_seconds",
			Help: "How long an item of background work ran, by loop.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)},
			[]string{"loop"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linkd_worker_items_running",
			Help: "Items of background work running now in this instance, by loop."}, []string{"loop"}),
	}
	reg.MustRegister(m.items, m.duration, m.running)
	return m
}

// Started implements worker.Observer.
func (m *workerMetrics) Started(loop string) { m.running.WithLabelValues(loop).Inc() }

// Finished implements worker.Observer.
func (m *workerMetrics) Finished(loop string, d time.Duration, err error) {
	m.running.WithLabelValues(loop).Dec()
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.items.WithLabelValues(loop, outcome).Inc()
	m.duration.WithLabelValues(loop).Observe(d.Seconds())
}

// registerWebhookMetrics exports the webhook senders' outcomes and how far
// behind they are; it returns the sender's Observe.
func registerWebhookMetrics(reg *prometheus.Registry, store linkd.DeliveryStore) func(outcome string, sinceEvent time.Duration) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome: succeeded, retrying (failed, due again), failed (no attempt left), disabled (the endpoint was disabled)."},
		[]string{"outcome"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linkd_webhook_delivery_lag_seconds",
		Help: "From an event to its successful delivery.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 12)})
	// Asked of the database at each scrape, so it is the same on every
	// instance: how long the oldest due delivery has waited.
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "linkd_webhook_backlog_age_seconds",
		Help: "How long the oldest due webhook delivery (of any tenant) has been waiting; 0 when none is. -1 when the database did not answer."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			now := time.Now()
			at, ok, err := store.OldestDueDelivery(ctx, now)
			switch {
			case err != nil:
				return -1
			case !ok:
				return 0
			}
			return now.Sub(at).Seconds()
		})
	reg.MustRegister(attempts, lag, backlog)
	return func(outcome string, sinceEvent time.Duration) {
		attempts.WithLabelValues(outcome).Inc()
		if outcome == webhooks.OutcomeSucceeded {
			lag.Observe(sinceEvent.Seconds())
		}
	}
}

// workflowMetrics exports the workflow runs: how they end, each step's
// outcome and latency, and the queue of runs not ended.
type workflowMetrics struct {
	executions *prometheus.CounterVec
	steps      *prometheus.CounterVec
	stepTime   *prometheus.HistogramVec
}

func registerWorkflowMetrics(reg *prometheus.Registry, queue interface {
	ExecutionQueue(ctx context.Context, now time.Time) (linkd.ExecutionQueueStats, error)
}) *workflowMetrics {
	m := &workflowMetrics{
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_workflow_executions_total",
			Help: "Workflow runs that ended, by app, workflow and status (COMPLETED, ERRORED, STOPPED, TIMED_OUT)."},
			[]string{"app", "workflow", "status"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_workflow_step_attempts_total",
			Help: "Workflow step attempts, by app, workflow, step and the step's status after it (Success, Waiting: due again, Errored, Rejected: its guard was false, Timed_Out)."},
			[]string{"app", "workflow", "step", "status"}),
		stepTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linkd_workflow_step_duration_seconds",
			Help: "How long a workflow step attempt took, by app, workflow and step kind (http, set, return).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)},
			[]string{"app", "workflow", "kind"}),
	}
	reg.MustRegister(m.executions, m.steps, m.stepTime, &workflowQueue{queue: queue,
		runs: prometheus.NewDesc("linkd_workflow_queue_runs", "Workflow runs not ended, of every tenant, by state: due (waiting for a runner), running, retrying (a step failed; due again later).", []string{"state"}, nil),
		age:  prometheus.NewDesc("linkd_workflow_queue_age_seconds", "How long the oldest due workflow run has waited for a runner; 0 when none is, -1 when the database did not answer.", nil, nil)})
	return m
}

// Step is workflow.Options.Observe.
func (m *workflowMetrics) Step(o workflow.StepObservation) {
	m.steps.WithLabelValues(o.Slug, o.WorkflowID, o.StepID, o.Status).Inc()
	m.stepTime.WithLabelValues(o.Slug, o.WorkflowID, o.Kind).Observe(o.Duration.Seconds())
}

// Ended is workflow.Options.Ended.
func (m *workflowMetrics) Ended(e *linkd.Execution) {
	m.executions.WithLabelValues(e.Slug, e.WorkflowID, e.Status).Inc()
}

// workflowQueue asks the database once per scrape for the queue of runs,
// so every instance reports the same figures.
type workflowQueue struct {
	queue interface {
		ExecutionQueue(ctx context.Context, now time.Time) (linkd.ExecutionQueueStats, error)
	}
	runs, age *prometheus.Desc
}

func (q *workflowQueue) Describe(ch chan<- *prometheus.Desc) { ch <- q.runs; ch <- q.age }

func (q *workflowQueue) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := time.Now()
	st, err := q.queue.ExecutionQueue(ctx, now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(q.age, prometheus.GaugeValue, -1)
		return
	}
	for state, n := range map[string]int{"due": st.Due, "running": st.Running, "retrying": st.Retrying} {
		ch <- prometheus.MustNewConstMetric(q.runs, prometheus.GaugeValue, float64(n), state)
	}
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = max(now.Sub(st.OldestDue).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(q.age, prometheus.GaugeValue, age)
}

// registerJobMetrics exports the backlog of imports, bulk jobs, token
// refreshes and revocations, read from the database at each scrape: a kind
// of work nobody picks up (its workers down, stuck or failing) shows as an
// age that only grows, whichever instance is scraped.
func registerJobMetrics(reg *prometheus.Registry, store linkd.JobBacklogStore) {
	reg.MustRegister(&jobBacklogs{store: store,
		waiting: prometheus.NewDesc("linkd_jobs_waiting", "Background work that is due and that no worker holds, of every tenant, by kind: import, bulk (bulk deletes), refresh (OAuth tokens past their expiry), revocation (tokens to revoke at their provider). Counted up to 10000.", []string{"kind"}, nil),
		age:     prometheus.NewDesc("linkd_job_wait_seconds", "How long the longest-waiting due item of the kind has waited for a worker; 0 when none waits, -1 when the database did not answer.", []string{"kind"}, nil)})
}

type jobBacklogs struct {
	store        linkd.JobBacklogStore
	waiting, age *prometheus.Desc
}

func (j *jobBacklogs) Describe(ch chan<- *prometheus.Desc) { ch <- j.waiting; ch <- j.age }

func (j *jobBacklogs) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := time.Now()
	backlogs, err := j.store.JobBacklogs(ctx, now)
	if err != nil {
		for _, kind := range linkd.JobKinds {
			ch <- prometheus.MustNewConstMetric(j.age, prometheus.GaugeValue, -1, kind)
		}
		return
	}
	for _, b := range backlogs {
		age := 0.0
		if !b.Since.IsZero() {
			age = max(now.Sub(b.Since).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(j.waiting, prometheus.GaugeValue, float64(b.Waiting), b.Kind)
		ch <- prometheus.MustNewConstMetric(j.age, prometheus.GaugeValue, age, b.Kind)
	}
}

// registerMemoryMetrics exports the process's anonymous resident memory
// (heap, SQLite's page caches, stacks). process_resident_memory_bytes also
// counts the pages of the database file that SQLite's read connections map
// (mmap_size, up to 1 GiB): they are the kernel's page cache, shared and
// reclaimable, and grow with the data read, so a leak shows in this figure
// and not reliably in RSS. Not registered where /proc is missing.
func registerMemoryMetrics(reg *prometheus.Registry) {
	self, err := procfs.Self()
	if err != nil {
		return
	}
	if _, err := self.NewStatus(); err != nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "linkd_process_anon_resident_bytes",
		Help: "Anonymous resident memory of the process (RssAnon): RSS without mapped files such as SQLite's memory-mapped database."},
		func() float64 {
			st, err := self.NewStatus()
			if err != nil {
				return -1
			}
			return float64(st.RssAnon)
		}))
}
