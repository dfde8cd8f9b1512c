// Package hosted serves linkd's own HTML pages for a linked account's end
// customer: the hosted connect page, {PUBLIC_URL}/connect/{token}, where
// they connect and disconnect apps without any front-end work by the
// organization, and the page the OAuth callback ends on. The token in the
// URL is the credential (a connect session, 3 days); the pages work without
// JavaScript, every state change is a POST form checked against cross-site
// requests, and each answer carries a strict Content-Security-Policy. The
// http package serves the JSON API only and mounts this handler like the
// dashboard.
package hosted

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/ratelimit"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

// maxForm bounds the body of the page's forms.
const maxForm = 64 << 10

// Config is what the pages need.
type Config struct {
	// Store is what the pages read: connect sessions, the account, the
	// organization, its allowed origins. Changes go through Connections.
	Store       linkd.Reader
	Connections *connect.Service
	// Limiter bounds the forms posted per account; nil allows all.
	Limiter *ratelimit.Limiter
	Logger  *slog.Logger
	Now     func() time.Time
	// RequestID returns the id the server gave the request, shown on error
	// pages as a reference; nil shows none.
	RequestID func(context.Context) string
}

// Handler serves the pages.
type Handler struct {
	store     linkd.Reader
	conns     *connect.Service
	limiter   *ratelimit.Limiter
	logger    *slog.Logger
	clock     func() time.Time
	requestID func(context.Context) string
	mux       *http.ServeMux
}

// New returns the pages' handler. Its routes are Patterns; the server
// registers the same so that metrics and logs name them.
func New(cfg Config) *Handler {
	h := &Handler{store: cfg.Store, conns: cfg.Connections, limiter: cfg.Limiter, logger: cfg.Logger, clock: cfg.Now,
		requestID: cfg.RequestID, mux: http.NewServeMux()}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	if h.limiter == nil {
		h.limiter = ratelimit.New(0, nil)
	}
	if h.requestID == nil {
		h.requestID = func(context.Context) string { return "" }
	}
	cop := h.crossOrigin()
	for pattern, fn := range map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /connect/{token}":                    h.page(nil, h.handlePage),
		"POST /connect/{token}/oauth/{slug}":      h.page(cop, h.handleOAuth),
		"POST /connect/{token}/keys/{slug}":       h.page(cop, h.handleKeys),
		"POST /connect/{token}/disconnect/{slug}": h.page(cop, h.handleDisconnect),
		"GET /oauth/callback":                     h.handleOAuthCallback,
	} {
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				h.logger.ErrorContext(r.Context(), "hosted page", "err", err, "request_id", h.requestID(r.Context()))
			}
		})
	}
	return h
}

// Patterns are the routes the pages answer.
var Patterns = []string{"GET /connect/{token}", "POST /connect/{token}/oauth/{slug}", "POST /connect/{token}/keys/{slug}",
	"POST /connect/{token}/disconnect/{slug}", "GET /oauth/callback"}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) now() time.Time { return linkd.StoreTime(h.clock()) }

// redirectAllowed reports whether a link's redirect_url may be offered:
// an absolute http(s) URL on an origin the tenant allows (the API checked
// it when the link was made; the allowed origins may have changed since).
func (h *Handler) redirectAllowed(ctx context.Context, t linkd.Tenant, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	allowed, err := h.store.AllowedOrigins(ctx, t)
	if err != nil {
		return false
	}
	return linkd.OriginAllowed(t, allowed, linkd.OriginOf(h.conns.PublicURL), linkd.OriginOf(raw))
}
