package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
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
