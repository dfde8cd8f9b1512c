package hosted

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// pageFunc handles a request of the hosted page whose connect session has
// been checked.
type pageFunc func(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error

// crossOrigin is the cross-site request check of the page's forms.
// Browsers say where a request comes from (Sec-Fetch-Site, Origin); a form
// posted from another site is refused. linkd's own public origin is trusted
// also when a proxy changes the Host header.
func (h *Handler) crossOrigin() *http.CrossOriginProtection {
	cop := http.NewCrossOriginProtection()
	if o := linkd.OriginOf(h.conns.PublicURL); o != "" {
		if err := cop.AddTrustedOrigin(o); err != nil {
			h.logger.Warn("hosted page: trust public origin", "origin", o, "err", err)
		}
	}
	return cop
}

// page adapts a page handler: it sets the headers every page
// gets, refuses cross-site posts (when cop is set), checks the token in the
// path and renders errors as pages rather than JSON.
func (h *Handler) page(cop *http.CrossOriginProtection, fn pageFunc) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		hdr := w.Header()
		// The token is in the URL: no page may pass it on as a Referer,
		// and no cache may keep the page.
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		if cop != nil {
			if err := cop.Check(r); err != nil {
				return h.renderError(w, r, http.StatusForbidden, "This request came from another site",
					"For your safety, changes can only be made from the connection page itself. Go back to the page and try again.")
			}
		}
		notFound := func() error {
			return h.renderError(w, r, http.StatusNotFound, "This link does not work",
				"The link may be mistyped, or it was withdrawn. Ask for a new one where you found it.")
		}
		token := r.PathValue("token")
		if !linkd.LooksLikeConnectToken(token) {
			return notFound()
		}
		cs, err := h.store.ConnectSessionByHash(r.Context(), linkd.HashAPIKey(token))
		switch {
		case linkd.ErrorCode(err) == linkd.ENOTFOUND:
			return notFound()
		case err != nil:
			return h.internal(w, r, err)
		case !h.now().Before(cs.ExpiresAt):
			return h.renderError(w, r, http.StatusGone, "This link has expired",
				"Links to this page work for a few days only. Ask for a new one where you found it.")
		}
		if r.Method == http.MethodPost {
			if ok, _ := h.limiter.Allow("hosted:" + cs.AccountPK); !ok {
				return h.renderError(w, r, http.StatusTooManyRequests, "Too many attempts",
					"Wait a moment, then go back to the page and try again.")
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				return h.renderError(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the page and try again.")
			}
		}
		if err := fn(w, r, cs); err != nil {
			return h.internal(w, r, err)
		}
		return nil
	}
}

// errorPage is the data of hosted/error.html.
type errorPage struct {
	Nonce, Title, Message string
	Theme                 theme
}

// renderError renders a friendly error page. It never says whether an
// account exists: an unknown token and a deleted account look the same.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) error {
	nonce := newNonce()
	// The page has no controls, so there is nothing to trick anyone into
	// clicking: any site may frame it (the site that framed a link that
	// has expired shows why).
	setCSP(w, nonce, nil, []string{"*"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return templates.ExecuteTemplate(w, "error.html", errorPage{Nonce: nonce, Title: title, Message: message, Theme: defaultTheme})
}

// internal logs err once and shows a generic page.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) error {
	h.logger.ErrorContext(r.Context(), "hosted page", "err", err, "request_id", h.requestID(r.Context()), "method", r.Method)
	return h.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"Please try again in a moment. If it keeps happening, contact the company that sent you this link (reference "+h.requestID(r.Context())+").")
}

// newNonce returns a CSP nonce: 128 random bits.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// setCSP sets the page's Content-Security-Policy: no script at all, the
// one style element with the nonce, forms only to linkd and to the
// authorization servers of the apps shown (a form's redirect is checked
// against form-action), and framing only by the listed ancestors. Framing
// is governed by frame-ancestors alone: X-Frame-Options cannot name more
// than one origin.
func setCSP(w http.ResponseWriter, nonce string, formActions, frameAncestors []string) {
	csp := "default-src 'none'; style-src 'nonce-" + nonce + "'; img-src https: data:; base-uri 'none'; form-action 'self'"
	for _, a := range formActions {
		csp += " " + a
	}
	csp += "; frame-ancestors"
	if len(frameAncestors) == 0 {
		csp += " 'none'"
	}
	for _, a := range frameAncestors {
		csp += " " + a
	}
	w.Header().Set("Content-Security-Policy", csp)
}

// hostedPage is the data of hosted/page.html.
type hostedPage struct {
	Nonce   string
	Token   string
	Name    string // the product asking, from the properties or the organization
	Account string
	Theme   theme
	Notice  *notice
	Apps    []*hostedApp
	// Invalid is set when a form came back with errors, for the title.
	Invalid bool
}

// notice is the outcome of the last action, shown at the top of the page.
type notice struct {
	OK         bool
	Text       string
	ReturnURL  string
	ReturnHost string
}

// hostedApp is one app on the page.
type hostedApp struct {
	Slug, Name, Description, Icon string
	OAuth                         bool
	// State is "none", "connected" or "expired" (must reconnect).
	State, Status, Action string
	Fields                []*hostedField
	// Open shows the key form unfolded (it came back with errors), Errors
	// is how many of its fields are wrong, FormError an error of no field.
	Open      bool
	Errors    int
	FormError string
}

// Initial is the app's first letter, shown when it has no icon (or the
// icon does not load).
func (a *hostedApp) Initial() string {
	for _, r := range a.Name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// hostedField is one input of a key-based app's form.
type hostedField struct {
	ID, Name, Label, Type, Placeholder, HelpText string
	Required                                     bool
	Options                                      []linkd.FieldOption
	Value, Error                                 string
	Autofocus                                    bool
}

// InputType is the type attribute of a text-like input.
func (f *hostedField) InputType() string {
	switch f.Type {
	case "password", "number":
		return f.Type
	}
	return "text"
}

// DescribedBy lists the ids of the field's help and error texts.
func (f *hostedField) DescribedBy() string {
	var ids []string
	if f.HelpText != "" {
		ids = append(ids, f.ID+"-help")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-err")
	}
	return strings.Join(ids, " ")
}

// handlePage shows the account's apps and what can be done with each.
func (h *Handler) handlePage(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	page, err := h.buildPage(r, cs)
	if err != nil {
		return err
	}
	page.Notice = h.noticeFrom(r, cs, page.Apps)
	return h.render(w, r, cs, page, http.StatusOK)
}

func (h *Handler) buildPage(r *http.Request, cs *linkd.ConnectSession) (*hostedPage, error) {
	t := cs.Tenant()
	views, err := h.conns.AccountApps(r.Context(), t, cs.AccountID, "")
	if err != nil {
		return nil, err
	}
	acct, err := h.store.FindAccount(r.Context(), t, cs.AccountID)
	if err != nil {
		return nil, err
	}
	props := parseHostedProps(cs.Properties)
	page := &hostedPage{Token: r.PathValue("token"), Name: props.Name, Account: acct.Name, Theme: themeOf(props)}
	if page.Name == "" {
		if org, err := h.store.OrgByID(r.Context(), t.OrgID); err == nil {
			page.Name = org.Name
		}
	}
	for _, v := range views {
		page.Apps = append(page.Apps, hostedAppOf(v))
	}
	return page, nil
}

func hostedAppOf(v connect.AppView) *hostedApp {
	a := &hostedApp{Slug: v.App.Slug, Name: v.App.Name, Description: v.App.Description, OAuth: v.App.AuthType == linkd.AuthOAuth2,
		State: "none", Status: "Not connected", Action: "Connect"}
	if strings.HasPrefix(v.App.IconURL, "https://") {
		a.Icon = v.App.IconURL
	}
	if len(v.Connections) > 0 {
		a.State, a.Status, a.Action = "connected", "Connected", ""
		for _, c := range v.Connections {
			if c.Status == linkd.ConnExpired {
				a.State, a.Status, a.Action = "expired", "Needs reconnecting", "Reconnect"
			}
		}
	}
	if !a.OAuth {
		for _, f := range v.App.AuthInputs {
			a.Fields = append(a.Fields, &hostedField{ID: "f-" + v.App.Slug + "-" + f.Name, Name: f.Name, Label: f.Label, Type: f.Type,
				Placeholder: f.Placeholder, HelpText: f.HelpText, Required: f.Required, Options: f.Options})
		}
	}
	return a
}

// noticeFrom reads the outcome of the last action from the query: the
// page's own redirects and the OAuth callback's (slug, linkd_status,
// linkd_error). Anyone can write a query, so the notice is made of the
// page's own words only: an app's name when slug names one of the page's
// apps, and a fixed sentence per reason (failure).
func (h *Handler) noticeFrom(r *http.Request, cs *linkd.ConnectSession, apps []*hostedApp) *notice {
	q := r.URL.Query()
	name := "the app"
	for _, a := range apps {
		if a.Slug == q.Get("slug") {
			name = a.Name
		}
	}
	switch q.Get("linkd_status") {
	case "connected":
		n := &notice{OK: true, Text: "Connected to " + name + "."}
		props := parseHostedProps(cs.Properties)
		if props.RedirectURL != "" && h.redirectAllowed(r.Context(), cs.Tenant(), props.RedirectURL) {
			u, _ := url.Parse(props.RedirectURL)
			n.ReturnURL, n.ReturnHost = props.RedirectURL, u.Host
		}
		return n
	case "disconnected":
		return &notice{OK: true, Text: "Disconnected " + name + "."}
	case "error":
		return &notice{Text: failure(q.Get("linkd_error"), name)}
	}
	return nil
}

// The page's own reasons for an action that failed, as its redirects name
// them in linkd_error; the OAuth callback's are oauth's (connect.Failure).
const (
	reasonUnavailable      = "unavailable"
	reasonNotAForm         = "not_a_form"
	reasonDisconnectFailed = "disconnect_failed"
)

// failure words the notice of a failed action on app (its name).
func failure(reason, app string) string {
	switch reason {
	case reasonUnavailable:
		return "Could not connect to " + app + ". It is not available here."
	case reasonNotAForm:
		return "Could not connect to " + app + ". It does not connect with a form."
	case reasonDisconnectFailed:
		return "Could not disconnect " + app + ". Try again."
	}
	return "Could not connect to " + app + ". " + connect.Failure(reason, app)
}

// render writes the page with its security headers.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession, page *hostedPage, status int) error {
	page.Nonce = newNonce()
	// Forms post to linkd; an OAuth form's answer redirects to the app's
	// authorization server, which form-action must allow too.
	var actions []string
	for _, a := range page.Apps {
		if app, ok := h.conns.Catalog.App(a.Slug); ok && a.OAuth && app.OAuth != nil {
			if o := linkd.OriginOf(app.OAuth.AuthorizeURL); o != "" && !slices.Contains(actions, o) {
				actions = append(actions, o)
			}
		}
	}
	ancestors, err := h.frameAncestors(r.Context(), cs.Tenant())
	if err != nil {
		return err
	}
	setCSP(w, page.Nonce, actions, ancestors)
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "page.html", page); err != nil {
		return fmt.Errorf("render hosted page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// frameAncestors are the pages that may frame the hosted page: linkd's
// own, the tenant's allowed origins and, in the test environment, loopback.
func (h *Handler) frameAncestors(ctx context.Context, t linkd.Tenant) ([]string, error) {
	origins, err := h.store.AllowedOrigins(ctx, t)
	if err != nil {
		return nil, err
	}
	out := append([]string{"'self'"}, origins...)
	if t.Env == linkd.EnvTest {
		out = append(out, linkd.LoopbackSources...)
	}
	return out, nil
}

// backToPage redirects (303) to the page with the outcome of an action;
// reason says why it failed (failure), "" when it did not.
func backToPage(w http.ResponseWriter, r *http.Request, slug, status, reason string) {
	q := url.Values{"slug": {slug}, "linkd_status": {status}}
	if reason != "" {
		q.Set("linkd_error", reason)
	}
	http.Redirect(w, r, "/connect/"+url.PathEscape(r.PathValue("token"))+"?"+q.Encode(), http.StatusSeeOther)
}

// handleOAuth starts connecting an OAuth app: the browser goes to
// the provider, and the callback brings it back to the page. The flow is
// bound to this browser (a cookie, connect.Service.BrowserCookie): its
// consent URL, handed to someone else, cannot land their grant here.
func (h *Handler) handleOAuth(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	secret, cookie := h.conns.BrowserCookie()
	u, err := h.conns.AuthURL(r.Context(), cs.Tenant(), connect.AuthRequest{AccountID: cs.AccountID, Slug: slug,
		ReturnTo: "/connect/" + r.PathValue("token"), Browser: secret})
	if err != nil {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		backToPage(w, r, slug, "error", reasonUnavailable)
		return nil
	}
	http.SetCookie(w, cookie)
	http.Redirect(w, r, u, http.StatusSeeOther)
	return nil
}

// handleKeys connects a key-based app with the form's fields. Errors
// come back next to their field; what was typed is kept, except secrets.
func (h *Handler) handleKeys(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	app, ok := h.conns.Catalog.App(slug)
	if !ok || app.AuthType != linkd.AuthKeyBased {
		backToPage(w, r, slug, "error", reasonNotAForm)
		return nil
	}
	values := map[string]json.RawMessage{}
	fieldErrs := map[string]string{}
	for _, f := range app.AuthInputs {
		v := r.PostForm.Get(f.Name)
		if f.Type == "boolean" && v != "" {
			v = "true"
		}
		if v == "" {
			if f.Required {
				fieldErrs[f.Name] = f.Label + " is required."
			}
			continue
		}
		raw, _ := json.Marshal(v)
		values[f.Name] = raw
	}
	var formErr string
	if len(fieldErrs) == 0 {
		_, err := h.conns.SaveKeys(r.Context(), cs.Tenant(), "connect:"+cs.ID, cs.AccountID, slug, values)
		var e *linkd.Error
		switch {
		case err == nil:
			backToPage(w, r, slug, "connected", "")
			return nil
		case linkd.ErrorCode(err) == linkd.EINTERNAL:
			return err
		case errors.As(err, &e) && e.Field != "" && slices.ContainsFunc(app.AuthInputs, func(f linkd.InputField) bool { return f.Name == e.Field }):
			fieldErrs[e.Field] = e.Message
		default:
			formErr = linkd.ErrorMessage(err)
		}
	}
	page, err := h.buildPage(r, cs)
	if err != nil {
		return err
	}
	page.Invalid = true
	for _, a := range page.Apps {
		if a.Slug != slug {
			continue
		}
		a.Open, a.FormError = true, formErr
		focused := false
		for _, f := range a.Fields {
			if f.Type != "password" {
				f.Value = r.PostForm.Get(f.Name)
			}
			if msg, ok := fieldErrs[f.Name]; ok {
				f.Error = msg
				f.Autofocus = !focused
				focused = true
				a.Errors++
			}
		}
	}
	return h.render(w, r, cs, page, http.StatusBadRequest)
}

// handleDisconnect removes the account's connections to an app.
func (h *Handler) handleDisconnect(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	if _, err := h.conns.Disconnect(r.Context(), cs.Tenant(), "connect:"+cs.ID, cs.AccountID, slug, ""); err != nil {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		backToPage(w, r, slug, "error", reasonDisconnectFailed)
		return nil
	}
	backToPage(w, r, slug, "disconnected", "")
	return nil
}
