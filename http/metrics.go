package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linkd-dev/linkd"
)

// metrics are the server's Prometheus series, on its own registry so that
// tests and embedders never share global state.
//
// Every label value comes from a small fixed set, never from what a client
// wrote: a registry keeps each series for the life of the process, so a
// label that copies the request (an invented method, a path) is a memory
// leak that anyone who can reach the port drives (33,000 requests with
// invented methods once added 100 MB and a 52 MB page).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// inFlight is how many requests are being served, the scrape that
	// reads it included: what a graceful shutdown waits for.
	inFlight prometheus.Gauge

	// Calls to apps' APIs through the proxy, by app (a catalog slug, else
	// "other") and status class.
	appCalls     *prometheus.CounterVec
	appLatency   *prometheus.HistogramVec
	appRetries   *prometheus.CounterVec
	appRefreshes *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkd_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkd_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern and method.",
			// Finer than the defaults at the low end: most API calls take
			// well under 10 ms and the interesting changes happen there.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "linkd_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	m.appCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linkd_app_calls_total",
		Help: "Calls to apps' APIs through linkd, by app and status class (2xx-5xx from the app, error when linkd failed).",
	}, []string{"app", "status"})
	m.appLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "linkd_app_call_duration_seconds",
		Help: "Time until an app's API answered (its headers), over all attempts, by app.",
		// Real APIs answer in tens to hundreds of milliseconds; retries
		// and slow apps reach the proxy's timeout (30 s by default).
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"app"})
	m.appRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linkd_app_call_retries_total",
		Help: "Attempts beyond the first of calls to apps' APIs, by app.",
	}, []string{"app"})
	m.appRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linkd_app_call_refreshes_total",
		Help: "Calls to apps' APIs whose 401 made linkd refresh the token and try again, by app.",
	}, []string{"app"})
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.appCalls, m.appLatency, m.appRetries, m.appRefreshes)
	return m
}

// otherApp is the app label of a slug the catalog does not have: the
// caller wrote it, so it must not become a label.
const otherApp = "other"

// statusClass is the status label of a call to an app: its class, or
// "error" when the app gave no answer (linkd failed or refused the call).
func statusClass(status int, err error) string {
	switch {
	case err != nil || status < 200 || status > 599:
		return "error"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	}
	return "5xx"
}

// unmatchedRoute is the route label of every request no route pattern
// matched (an unknown path, or a known one with another method).
const unmatchedRoute = "unmatched"

// routeLabel is the request's route pattern, one of those registered in
// routes.go (or the dashboard's), else unmatchedRoute.
func routeLabel(pattern string) string {
	if pattern == "" {
		return unmatchedRoute
	}
	return pattern
}

// methodLabel is the request's method when it is one of HTTP's own, else
// "other". Methods are case-sensitive (RFC 9110 §9.1): "get" is other.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// statusLabel is the response status: the server chooses it, but it is
// clamped to the valid range all the same, so that no code path can add
// series without bound.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

func (m *metrics) observe(pattern, method string, status int, d time.Duration) {
	route, meth := routeLabel(pattern), methodLabel(method)
	m.requests.WithLabelValues(route, meth, statusLabel(status)).Inc()
	m.duration.WithLabelValues(route, meth).Observe(d.Seconds())
}

// handleMetrics serves the registry, behind the bearer token when one is
// configured. Prometheus sends it as `authorization: {credentials: …}`.
func (s *Server) handleMetrics() handlerFunc {
	h := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.metricsToken != nil {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			// Comparing hashes keeps the comparison constant-time even in
			// the token's length.
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], s.metricsToken) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="linkd metrics"`)
				return &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "Authorization", Message: "/metrics needs Authorization: Bearer <LINKD_METRICS_TOKEN>"}
			}
		}
		h.ServeHTTP(w, r)
		return nil
	}
}

// MetricsHandler serves /metrics alone, for a listener of its own
// (LINKD_METRICS_ADDR): Prometheus can then scrape an address that the
// public never reaches. Anything else there is 404.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	h := s.handleMetrics()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
	return mux
}
