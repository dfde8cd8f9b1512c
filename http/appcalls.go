package http

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd-dev/linkd/proxy"
)

// ObserveAppCall is the proxy.Caller's Observe hook: it counts the call in
// the server's metrics and hands it to the call log (Config.CallLog),
// which writes it later, so the call never waits on the database.
func (s *Server) ObserveAppCall(_ context.Context, o proxy.Observation) {
	app := otherApp
	if s.connections != nil {
		if _, ok := s.connections.Catalog.App(o.Slug); ok {
			app = o.Slug
		}
	}
	m := s.metrics
	m.appCalls.WithLabelValues(app, statusClass(o.Status, o.Err)).Inc()
	if o.Attempts > 0 {
		// Only calls that reached the app have an upstream latency.
		m.appLatency.WithLabelValues(app).Observe(o.Duration.Seconds())
	}
	if o.Attempts > 1 {
		m.appRetries.WithLabelValues(app).Add(float64(o.Attempts - 1))
	}
	if o.Refreshed {
		m.appRefreshes.WithLabelValues(app).Inc()
	}
	if s.callLog != nil {
		s.callLog.Record(o.Call())
	}
}

// registerCallLogMetrics exports the call log's losses: calls dropped
// because its buffer was full, and calls whose batch failed to write.
func (s *Server) registerCallLogMetrics() {
	r := s.callLog
	s.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "linkd_call_log_dropped_total",
			Help: "Calls not written to the call log because its buffer was full (the database fell behind).",
		}, func() float64 { return float64(r.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "linkd_call_log_failed_total",
			Help: "Calls not written to the call log because their batch failed to write.",
		}, func() float64 { return float64(r.Failed()) }),
	)
}
