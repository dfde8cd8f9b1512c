// Package http serves linkd's API over HTTP: the compatible public API under
// /api/v2/public, operations endpoints (/healthz, /readyz, /metrics) and the
// OpenAPI document. Routes are registered in one place (routes.go); handlers
// return errors that one function renders (error.go).
package http

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/ratelimit"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Config is what a Server needs. Zero values get defaults.
type Config struct {
	// Store is what handlers read directly; every change goes through
	// one of the Services.
	Store    linkd.Reader
	Services *linkd.Services
	// Imports accepts CSV uploads; WakeImports tells this instance's runner
	// that a job was queued.
	Imports *csvio.Importer
	// Connections connects apps; nil leaves the application routes out.
	Connections *connect.Service
	// Apps calls apps' APIs for the proxy routes; nil leaves them out.
	Apps linkd.AppCaller
	// CallLog, when set, receives the calls ObserveAppCall sees (wire
	// ObserveAppCall as the proxy.Caller's Observe hook).
	CallLog     *linkd.CallRecorder
	WakeImports func()
	Logger      *slog.Logger
	// RateLimit is requests per second per API key (burst twice that);
	// 0 turns limiting off.
	RateLimit float64
	// Registry receives the server's metrics; /metrics serves it.
	Registry *prometheus.Registry
	Version  string
	Now      func() time.Time
	// Pages serves the hosted connect page and the OAuth callback page
	// (package hosted); nil leaves them out.
	Pages http.Handler
	// Dashboard, when set, serves every path outside the API that no route
	// matches (the dashboard's pages). It gets the same middleware: request
	// ids, recovery, metrics and logs.
	Dashboard http.Handler
	// Workflows runs synchronous executions (workflow.Runner); without
	// it, sync_execution is refused.
	Workflows SyncRunner

	// MetricsToken, when set, is the bearer token /metrics asks for
	// (LINKD_METRICS_TOKEN): the page tells whoever reads it the routes,
	// the traffic and the state of the process.
	MetricsToken string
	// MetricsElsewhere leaves /metrics off Handler, for an operator who
	// serves MetricsHandler on a listener of its own (LINKD_METRICS_ADDR).
	MetricsElsewhere bool
}

// Server is the HTTP front of linkd.
type Server struct {
	store    linkd.Reader
	accounts *linkd.AccountService
	// idem keeps Idempotency-Key responses, sealed with the accounts' keyring.
	idem *linkd.IdempotencyService
	// settings are the tenants' settings (org/settings, org.go).
	settings *linkd.SettingsService
	// webhooks are the tenants' webhook endpoints (webhook.go).
	webhooks *linkd.WebhookService
	imports  *csvio.Importer
	// connections is Config.Connections.
	connections *connect.Service
	apiKeys     *linkd.APIKeyService
	links       *linkd.HostedService
	sessions    *linkd.SessionService
	apps        linkd.AppCaller
	pages       http.Handler
	callLog     *linkd.CallRecorder // Config.CallLog
	logger      *slog.Logger
	registry    *prometheus.Registry
	metrics     *metrics
	limiter     *ratelimit.Limiter
	// wakeImports is Config.WakeImports.
	wakeImports func()
	version     string
	now         func() time.Time
	dashboard   http.Handler // Config.Dashboard
	executions  *linkd.ExecutionService
	flows       SyncRunner
	mux         *http.ServeMux
	// patterns lists every registered route, for the OpenAPI test.
	patterns []string

	touchMu sync.Mutex
	touched map[string]time.Time // API key id → last time last_used_at was written

	// metricsToken is the SHA-256 of Config.MetricsToken, nil when unset.
	metricsToken []byte
	// metricsElsewhere is Config.MetricsElsewhere.
	metricsElsewhere bool
}

// NewServer builds a server and its routes.
func NewServer(cfg Config) *Server {
	s := &Server{
		store:   cfg.Store,
		imports: cfg.Imports,

		connections: cfg.Connections,
		apps:        cfg.Apps,
		pages:       cfg.Pages,
		callLog:     cfg.CallLog,
		logger:      cfg.Logger,
		registry:    cfg.Registry,
		version:     cfg.Version,
		now:         cfg.Now,
		mux:         http.NewServeMux(),
		touched:     map[string]time.Time{},

		wakeImports: cfg.WakeImports,
		dashboard:   cfg.Dashboard,
		flows:       cfg.Workflows,

		metricsElsewhere: cfg.MetricsElsewhere,
	}
	if cfg.MetricsToken != "" {
		sum := sha256.Sum256([]byte(cfg.MetricsToken))
		s.metricsToken = sum[:]
	}
	if sv := cfg.Services; sv != nil {
		s.accounts, s.apiKeys, s.links, s.sessions = sv.Accounts, sv.APIKeys, sv.Hosted, sv.Sessions
		s.settings, s.idem, s.webhooks = sv.Settings, sv.Idempotency, sv.Webhooks
		s.executions = sv.Executions
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(s.registry)
	if s.callLog != nil {
		s.registerCallLogMetrics()
	}
	s.limiter = ratelimit.New(cfg.RateLimit, s.now)
	s.routes()
	return s
}

// Handler returns the root handler with the middleware every request passes.
func (s *Server) Handler() http.Handler {
	return s.withRequestID(s.withRecover(s.withMetricsAndLog(s.withCORS(http.HandlerFunc(s.dispatch)))))
}

// Patterns returns the registered route patterns ("METHOD /path").
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// Close stops background work of the server (the rate limiter's sweeper).
func (s *Server) Close() { s.limiter.Stop() }

// handlerFunc is a handler that returns its error for the adapter to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern, rendering any error it returns.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// dispatch routes the request, answering unknown paths and methods in the
// API's error shape instead of ServeMux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		// ServeHTTP, not h: only the mux sets the path values and Pattern.
		s.mux.ServeHTTP(w, r)
		return
	}
	if s.dashboard != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
		s.dashboard.ServeHTTP(w, r)
		return
	}
	// ServeMux's own handler knows whether the path exists with another
	// method (405 with Allow) or not at all (404); let it decide, then speak.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if rec.status == http.StatusMethodNotAllowed {
		s.writeError(w, r, &linkd.Error{Code: emethod, Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")})
		return
	}
	if rec.status == http.StatusMovedPermanently || rec.status == http.StatusTemporaryRedirect || rec.status == http.StatusPermanentRedirect {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		return
	}
	s.writeError(w, r, linkd.Errorf(linkd.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
}

// statusRecorder captures what ServeMux's fallback handler would answer.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

// ready reports whether the database answers within a short time.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.store.Ping(ctx)
}
