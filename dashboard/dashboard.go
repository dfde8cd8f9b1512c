// Package dashboard serves linkd's web dashboard: server-rendered pages
// (html/template, embedded) for signing in and managing linked accounts,
// calling the same services as the API. One file per page or action; the
// routes are all in routes below.
//
// Every page works without JavaScript; static/app.js only adds comfort
// (dialogs, row selection, progress polling). The Content-Security-Policy
// forbids inline script, so all of it lives in that file.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the dashboard needs. Store, the services and Imports are
// required; Connections (nil hides app filters) and the rest are optional.
type Config struct {
	// Store is what pages read directly; every change goes through one of
	// the services.
	Store    linkd.Reader
	Services *linkd.Services
	Imports  *csvio.Importer
	// WakeImports tells this instance's import runner that a job was queued.
	WakeImports func()
	// WakeBulk tells this instance's BulkRunner that a job was queued.
	WakeBulk    func()
	Connections *connect.Service
	Logger      *slog.Logger
	Now         func() time.Time
	// TrustedProxies are the reverse proxies whose X-Forwarded-For (for
	// the sign-in limits) and X-Forwarded-Proto (Secure cookies, HSTS) are
	// believed; nil trusts none.
	TrustedProxies *TrustedProxies
	// PublicURL is where users reach linkd; when it is https, cookies are
	// Secure and HSTS is sent whatever the request looked like (a proxy
	// that terminates TLS but is not listed still serves https).
	PublicURL string
}

// Handler serves the dashboard.
type Handler struct {
	cfg    Config
	store  linkd.Reader
	users  *linkd.UserService
	logger *slog.Logger
	// publicHTTPS: the public URL is https, so the browser always is.
	publicHTTPS bool
	mux         *http.ServeMux
	root        http.Handler
	pages       map[string]*template.Template
	version     string // of the static files, for cache busting
}

// New builds the dashboard's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, store: cfg.Store, users: cfg.Services.Users, logger: cfg.Logger, mux: http.NewServeMux(), version: staticVersion(),
		publicHTTPS: strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://")}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	h.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, linkd.Errorf(linkd.EFORBIDDEN, "This request came from another site and was refused."))
	}))
	h.root = h.securityHeaders(cop.Handler(h.mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// now is the current time in the stores' precision.
func (h *Handler) now() time.Time { return linkd.StoreTime(h.cfg.Now()) }

// handlerFunc is a page handler; a returned error is rendered as a page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// public registers a page that needs no session (sign-in, setup, static).
func (h *Handler) public(pattern string, fn handlerFunc) {
	h.mux.Handle(pattern, h.adapt(fn))
}

// page registers a page for signed-in users: without a valid session the
// browser is sent to sign in (or, on a fresh install, to setup) and back.
func (h *Handler) page(pattern string, fn handlerFunc) {
	h.mux.Handle(pattern, h.adapt(h.requireSession(fn)))
}

func (h *Handler) adapt(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
	})
}

// routes registers every dashboard route.
func (h *Handler) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	h.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	}))
	h.page("GET /{$}", func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return nil
	})
	h.public("GET /setup", h.handleSetup)
	h.public("POST /setup", h.handleSetup)
	h.public("GET /login", h.handleLogin)
	h.public("POST /login", h.handleLogin)
	h.public("POST /logout", h.handleLogout)
	h.page("POST /env", h.handleEnv)

	h.page("GET /accounts", h.handleAccounts)
	h.page("GET /accounts/new", h.handleNewAccount)
	h.page("POST /accounts/new", h.handleNewAccount)
	h.page("POST /accounts/import", h.handleImportUpload)
	h.page("GET /accounts/sample.csv", h.handleSampleCSV)
	h.page("POST /accounts/bulk", h.handleBulk)
	h.page("POST /accounts/bulk/delete", h.handleBulkDelete)
	h.page("GET /account/{id}", h.handleAccount)
	h.page("GET /account/{id}/connections/{slug}/remove", h.handleRemoveConnection)
	h.page("POST /account/{id}/connections/{slug}/remove", h.handleRemoveConnection)
	h.page("POST /account/{id}/workflows", h.handleToggleWorkflow)
	h.page("GET /account/{id}/udf", h.handleUDF)
	h.page("POST /account/{id}/udf", h.handleUDF)
	h.page("GET /account/{id}/delete", h.handleDeleteAccount)
	h.page("POST /account/{id}/delete", h.handleDeleteAccount)
	h.page("POST /account/{id}/connect-link", h.handleConnectLink)
	h.page("POST /account/{id}/connect-link/revoke", h.handleRevokeConnectLinks)

	h.page("GET /imports/{id}", h.handleImport)
	h.page("GET /imports/{id}/mapping", h.handleImportMapping)
	h.page("POST /imports/{id}/mapping", h.handleImportMapping)
	h.page("GET /imports/{id}/status", h.handleImportStatus)
	h.page("GET /imports/{id}/errors.csv", h.handleImportErrors)

	h.page("GET /bulk/{id}", h.handleBulkJob)

	h.page("GET /executions", h.handleExecutions)
	h.page("GET /account/{id}/executions", h.handleAccountExecutions)
	h.page("GET /executions/{id}", h.handleExecution)
	h.page("GET /executions/{id}/stop", h.handleStopExecution)
	h.page("POST /executions/{id}/stop", h.handleStopExecution)
	h.page("GET /executions/{id}/rerun", h.handleRerunExecution)
	h.page("POST /executions/{id}/rerun", h.handleRerunExecution)

	h.settingsRoutes() // settings.go

	h.mux.Handle("/", h.adapt(h.optionalSession(func(w http.ResponseWriter, r *http.Request) error {
		return linkd.Errorf(linkd.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	})))
}

// securityHeaders sets the headers every dashboard response carries. No
// inline script or style is allowed; app icons may come from anywhere over
// HTTPS. Over https, Strict-Transport-Security makes the browser refuse
// plain http to this host for a year, so that a network attacker cannot
// strip TLS off the sign-in page.
func (h *Handler) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		if h.https(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// Page is what every template gets: the layout's needs (session,
// organization, active nav item, a notice) and the page's own Data.
type Page struct {
	Title   string
	Nav     string // "accounts", "executions" or "settings": the highlighted nav item
	Session *linkd.DashboardSession
	Org     *linkd.Org
	Notice  string // a one-time message (after a redirect)
	Path    string // the current path and query, for the environment switch to come back to
	Version string // static files' version
	Data    any
}

// render writes the named page (templates/NAME.html inside the layout)
// with status. Rendering goes to a buffer first, so a template error
// becomes an error page instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p Page) error {
	t, ok := h.pages[name]
	if !ok {
		return errors.New("no template " + name)
	}
	if c := current(r); c != nil {
		p.Session, p.Org = c.Session, c.Org
	}
	p.Path = r.URL.RequestURI()
	p.Version = h.version
	if p.Notice == "" {
		p.Notice = takeNotice(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// statuses maps error codes to HTTP statuses for error pages.
var statuses = map[string]int{
	linkd.EINVALID:      http.StatusBadRequest,
	linkd.EEXISTS:       http.StatusConflict,
	linkd.ECONFLICT:     http.StatusConflict,
	linkd.ENOTFOUND:     http.StatusNotFound,
	linkd.EUNAUTHORIZED: http.StatusUnauthorized,
	linkd.EFORBIDDEN:    http.StatusForbidden,
	linkd.ERATELIMITED:  http.StatusTooManyRequests,
	linkd.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	linkd.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	linkd.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// renderError shows err as a page; internal errors are logged here, once,
// and shown without detail.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := linkd.ErrorCode(err)
	status, ok := statuses[code]
	if !ok {
		status = http.StatusInternalServerError
		h.logger.ErrorContext(r.Context(), "dashboard", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	data := struct {
		Status  int
		Heading string
		Message string
	}{status, http.StatusText(status), linkd.ErrorMessage(err)}
	if status == http.StatusNotFound {
		data.Heading = "Not found"
	}
	if rerr := h.render(w, r, status, "error", Page{Title: data.Heading, Data: data}); rerr != nil {
		h.logger.ErrorContext(r.Context(), "render error page", "err", rerr)
		http.Error(w, data.Message, status)
	}
}

// noticeCookie carries a one-time message across a redirect ("Account
// deleted"), read and cleared by the next page rendered.
const noticeCookie = "linkd_notice"

// redirectNotice redirects to target with a notice for the next page.
func (h *Handler) redirectNotice(w http.ResponseWriter, r *http.Request, target, notice string) {
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Value: url.QueryEscape(notice), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.https(r), MaxAge: 60})
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func takeNotice(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: noticeCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	v, _ := url.QueryUnescape(c.Value)
	return v
}

// localPath returns p when it is a path on this site, else fallback: a
// redirect taken from a form must not lead elsewhere. Checking the text is
// not enough (browsers drop TAB and newlines and read a backslash as a
// slash, so "/\t/evil.example" is "//evil.example" to them), so p is
// refused when it holds any control character or backslash, raw or
// percent-decoded, and is otherwise parsed and rebuilt from its cleaned
// path and its query: what comes back cannot name another host.
func localPath(p, fallback string) string {
	if p == "" || len(p) > 2048 || !utf8.ValidString(p) || unsafeInPath(p) {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || unsafeInPath(u.Path) {
		return fallback
	}
	clean := path.Clean(u.Path)
	out := (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || unsafeInPath(out) {
		return fallback
	}
	return out
}

// unsafeInPath reports whether s holds a control character (including
// TAB, CR, LF and DEL), a backslash, or a Unicode control.
func unsafeInPath(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || unicode.IsControl(r) })
}
