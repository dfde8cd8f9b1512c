package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/webhooks"
)

// registerStoreMetrics exposes the database pools' state: a pool that is
// always exhausted is the first thing to look at when latency rises.
func registerStoreMetrics(reg *prometheus.Registry, store linkd.Store) {
	switch s := store.(type) {
	case *sqlite.Store:
		write, read := s.DBs()
		reg.MustRegister(collectors.NewDBStatsCollector(write, "sqlite_write"), collectors.NewDBStatsCollector(read, "sqlite_read"))
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
