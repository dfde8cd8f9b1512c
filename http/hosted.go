package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/oauth"
)

// The hosted connect page: {PUBLIC_URL}/connect/{token}, a server-rendered
// page where a linked account's user connects and disconnects apps without
// any front-end work by the organization. The token in the URL is the
// credential (a connect session, 3 days); the page works without
// JavaScript, and every state change is a POST form, checked against
// cross-site requests.

//go:embed hosted/*.html
var hostedFS embed.FS

var hostedTemplates = template.Must(template.New("").ParseFS(hostedFS, "hosted/*.html"))

// maxHostedForm bounds the body of the page's forms.
const maxHostedForm = 64 << 10

// handleRevokeConnectURLs ends every hosted connect URL of the account (a
// link sent to the wrong person). An extension: the compatible API's links
// can only expire.
func (s *Server) handleRevokeConnectURLs(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	n, err := s.links.RevokeConnectLinks(r.Context(), tenant(r), actor(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "revoked_count": n})
	return nil
}

// handleConnectURL makes a hosted connect URL for the session token's
// account. The body is any JSON object (colours, a name, redirect_url…),
// stored with the session and returned by GET hosted-properties.
func (s *Server) handleConnectURL(w http.ResponseWriter, r *http.Request) error {
	props := []byte("{}")
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if props, err = s.connectProperties(r.Context(), tenant(r), body); err != nil {
				return err
			}
		}
	}
	configID := r.URL.Query().Get("config_id")
	if configID != "" && !saneToken(configID, 255) {
		return linkd.FieldError("config_id", "config_id must be 1 to 255 visible ASCII characters")
	}
	hosted, err := s.links.SessionConnectURL(r.Context(), callerFrom(r.Context()).session, configID, props)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"hosted_url": hosted})
	return nil
}

// connectProperties checks the body of a connect-url request: a JSON object
// of at most MaxConnectPropertiesBytes, whose redirect_url, if any, is an
// absolute http(s) URL on an origin the tenant allows. It returns the
// object compacted.
func (s *Server) connectProperties(ctx context.Context, t linkd.Tenant, body []byte) ([]byte, error) {
	if len(body) > linkd.MaxConnectPropertiesBytes {
		return nil, &linkd.Error{Code: linkd.ETOOLARGE, Field: "body", Message: fmt.Sprintf("the properties are larger than %d bytes", linkd.MaxConnectPropertiesBytes)}
	}
	if !utf8.Valid(body) {
		return nil, linkd.FieldError("body", "the body is not valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := decodeJSON(body, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, linkd.FieldError("body", "the body must be a JSON object")
	}
	if raw, ok := m["redirect_url"]; ok && string(raw) != "null" {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, linkd.FieldError("redirect_url", "redirect_url must be a string")
		}
		if u != "" { // "" and null mean no redirect
			if err := s.checkRedirectURL(ctx, t, u); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return nil, linkd.FieldError("body", "malformed JSON")
	}
	return buf.Bytes(), nil
}

// checkRedirectURL accepts an absolute http(s) URL on an origin the tenant
// allows: the hosted page links back to it, so it must not be a way to send
// customers anywhere (an open redirect).
func (s *Server) checkRedirectURL(ctx context.Context, t linkd.Tenant, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2048 {
		return linkd.FieldError("redirect_url", "redirect_url must be an absolute http(s) URL")
	}
	ok, err := s.originAllowed(ctx, t, linkd.OriginOf(raw))
	if err != nil {
		return err
	}
	if !ok {
		return linkd.FieldError("redirect_url", "redirect_url must be on one of the organization's allowed origins (PUT /api/v2/public/org/allowed-origins); %s is not", linkd.OriginOf(raw))
	}
	return nil
}

// handleHostedProperties returns the properties of the account's newest
// live connect URL, or {} when it has none.
func (s *Server) handleHostedProperties(w http.ResponseWriter, r *http.Request) error {
	props := []byte("{}")
	cs, err := s.store.LatestConnectSession(r.Context(), tenant(r), sessionAccount(r), s.now().UTC())
	if err == nil {
		props = cs.Properties
	} else if linkd.ErrorCode(err) != linkd.ENOTFOUND {
		return err
	}
	// As stored, byte for byte: the compatible API returns what it was given.
	writeJSON(w, http.StatusOK, json.RawMessage(props))
	return nil
}

// hostedFunc handles a request of the hosted page whose connect session has
// been checked.
type hostedFunc func(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error

// hostedCrossOrigin is the cross-site request check of the page's forms.
// Browsers say where a request comes from (Sec-Fetch-Site, Origin); a form
// posted from another site is refused. linkd's own public origin is trusted
// also when a proxy changes the Host header.
func (s *Server) hostedCrossOrigin() *http.CrossOriginProtection {
	cop := http.NewCrossOriginProtection()
	if o := s.publicOrigin(); o != "" {
		if err := cop.AddTrustedOrigin(o); err != nil {
			s.logger.Warn("hosted page: trust public origin", "origin", o, "err", err)
		}
	}
	return cop
}

// hosted adapts a hosted-page handler: it sets the headers every page
// gets, refuses cross-site posts (when cop is set), checks the token in the
// path and renders errors as pages rather than JSON.
func (s *Server) hosted(cop *http.CrossOriginProtection, h hostedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		hdr := w.Header()
		// The token is in the URL: no page may pass it on as a Referer,
		// and no cache may keep the page.
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		if cop != nil {
			if err := cop.Check(r); err != nil {
				return s.hostedError(w, r, http.StatusForbidden, "This request came from another site",
					"For your safety, changes can only be made from the connection page itself. Go back to the page and try again.")
			}
		}
		notFound := func() error {
			return s.hostedError(w, r, http.StatusNotFound, "This link does not work",
				"The link may be mistyped, or it was withdrawn. Ask for a new one where you found it.")
		}
		token := r.PathValue("token")
		if !linkd.LooksLikeConnectToken(token) {
			return notFound()
		}
		cs, err := s.store.ConnectSessionByHash(r.Context(), linkd.HashAPIKey(token))
		switch {
		case linkd.ErrorCode(err) == linkd.ENOTFOUND:
			return notFound()
		case err != nil:
			return s.hostedInternal(w, r, err)
		case !s.now().Before(cs.ExpiresAt):
			return s.hostedError(w, r, http.StatusGone, "This link has expired",
				"Links to this page work for a few days only. Ask for a new one where you found it.")
		}
		if r.Method == http.MethodPost {
			if ok, _ := s.limiter.allow("hosted:" + cs.AccountPK); !ok {
				return s.hostedError(w, r, http.StatusTooManyRequests, "Too many attempts",
					"Wait a moment, then go back to the page and try again.")
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxHostedForm)
			if err := r.ParseForm(); err != nil {
				return s.hostedError(w, r, http.StatusBadRequest, "The form could not be read", "Go back to the page and try again.")
			}
		}
		if err := h(w, r, cs); err != nil {
			return s.hostedInternal(w, r, err)
		}
		return nil
	}
}

// errorPage is the data of hosted/error.html.
type errorPage struct {
	Nonce, Title, Message string
	Theme                 theme
}

// hostedError renders a friendly error page. It never says whether an
// account exists: an unknown token and a deleted account look the same.
func (s *Server) hostedError(w http.ResponseWriter, r *http.Request, status int, title, message string) error {
	nonce := newNonce()
	// The page has no controls, so there is nothing to trick anyone into
	// clicking: any site may frame it (the site that framed a link that
	// has expired shows why).
	setCSP(w, nonce, nil, []string{"*"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return hostedTemplates.ExecuteTemplate(w, "error.html", errorPage{Nonce: nonce, Title: title, Message: message, Theme: defaultTheme})
}

// hostedInternal logs err once and shows a generic page.
func (s *Server) hostedInternal(w http.ResponseWriter, r *http.Request, err error) error {
	s.logger.ErrorContext(r.Context(), "hosted page", "err", err, "request_id", requestID(r.Context()), "method", r.Method)
	return s.hostedError(w, r, http.StatusInternalServerError, "Something went wrong",
		"Please try again in a moment. If it keeps happening, contact the company that sent you this link (reference "+requestID(r.Context())+").")
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

// handleHostedPage shows the account's apps and what can be done with each.
func (s *Server) handleHostedPage(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	page, err := s.buildHostedPage(r, cs)
	if err != nil {
		return err
	}
	page.Notice = s.noticeFrom(r, cs, page.Apps)
	return s.renderHosted(w, r, cs, page, http.StatusOK)
}

func (s *Server) buildHostedPage(r *http.Request, cs *linkd.ConnectSession) (*hostedPage, error) {
	t := cs.Tenant()
	views, err := s.connections.AccountApps(r.Context(), t, cs.AccountID, "")
	if err != nil {
		return nil, err
	}
	acct, err := s.store.FindAccount(r.Context(), t, cs.AccountID)
	if err != nil {
		return nil, err
	}
	props := parseHostedProps(cs.Properties)
	page := &hostedPage{Token: r.PathValue("token"), Name: props.Name, Account: acct.Name, Theme: themeOf(props)}
	if page.Name == "" {
		if org, err := s.store.OrgByID(r.Context(), t.OrgID); err == nil {
			page.Name = org.Name
		}
	}
	for _, v := range views {
		page.Apps = append(page.Apps, hostedAppOf(v))
	}
	return page, nil
}

func hostedAppOf(v oauth.AppView) *hostedApp {
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
// apps, and a fixed sentence per reason (hostedFailure).
func (s *Server) noticeFrom(r *http.Request, cs *linkd.ConnectSession, apps []*hostedApp) *notice {
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
		if props.RedirectURL != "" && s.checkRedirectURL(r.Context(), cs.Tenant(), props.RedirectURL) == nil {
			u, _ := url.Parse(props.RedirectURL)
			n.ReturnURL, n.ReturnHost = props.RedirectURL, u.Host
		}
		return n
	case "disconnected":
		return &notice{OK: true, Text: "Disconnected " + name + "."}
	case "error":
		return &notice{Text: hostedFailure(q.Get("linkd_error"), name)}
	}
	return nil
}

// The page's own reasons for an action that failed, as its redirects name
// them in linkd_error; the OAuth callback's are oauth's (oauth.Failure).
const (
	reasonUnavailable      = "unavailable"
	reasonNotAForm         = "not_a_form"
	reasonDisconnectFailed = "disconnect_failed"
)

// hostedFailure words the notice of a failed action on app (its name).
func hostedFailure(reason, app string) string {
	switch reason {
	case reasonUnavailable:
		return "Could not connect to " + app + ". It is not available here."
	case reasonNotAForm:
		return "Could not connect to " + app + ". It does not connect with a form."
	case reasonDisconnectFailed:
		return "Could not disconnect " + app + ". Try again."
	}
	return "Could not connect to " + app + ". " + oauth.Failure(reason, app)
}

// renderHosted writes the page with its security headers.
func (s *Server) renderHosted(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession, page *hostedPage, status int) error {
	page.Nonce = newNonce()
	// Forms post to linkd; an OAuth form's answer redirects to the app's
	// authorization server, which form-action must allow too.
	var actions []string
	for _, a := range page.Apps {
		if app, ok := s.connections.Catalog.App(a.Slug); ok && a.OAuth && app.OAuth != nil {
			if o := linkd.OriginOf(app.OAuth.AuthorizeURL); o != "" && !slices.Contains(actions, o) {
				actions = append(actions, o)
			}
		}
	}
	ancestors, err := s.frameAncestors(r.Context(), cs.Tenant())
	if err != nil {
		return err
	}
	setCSP(w, page.Nonce, actions, ancestors)
	var buf bytes.Buffer
	if err := hostedTemplates.ExecuteTemplate(&buf, "page.html", page); err != nil {
		return fmt.Errorf("render hosted page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// frameAncestors are the pages that may frame the hosted page: linkd's
// own, the tenant's allowed origins and, in the test environment, loopback.
func (s *Server) frameAncestors(ctx context.Context, t linkd.Tenant) ([]string, error) {
	origins, err := s.store.AllowedOrigins(ctx, t)
	if err != nil {
		return nil, err
	}
	out := append([]string{"'self'"}, origins...)
	if t.Env == linkd.EnvTest {
		out = append(out, loopbackSources...)
	}
	return out, nil
}

// backToPage redirects (303) to the page with the outcome of an action;
// reason says why it failed (hostedFailure), "" when it did not.
func backToPage(w http.ResponseWriter, r *http.Request, slug, status, reason string) {
	q := url.Values{"slug": {slug}, "linkd_status": {status}}
	if reason != "" {
		q.Set("linkd_error", reason)
	}
	http.Redirect(w, r, "/connect/"+url.PathEscape(r.PathValue("token"))+"?"+q.Encode(), http.StatusSeeOther)
}

// handleHostedOAuth starts connecting an OAuth app: the browser goes to
// the provider, and the callback brings it back to the page. The flow is
// bound to this browser (a cookie, oauth.Service.BrowserCookie): its
// consent URL, handed to someone else, cannot land their grant here.
func (s *Server) handleHostedOAuth(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	secret, cookie := s.connections.BrowserCookie()
	u, err := s.connections.AuthURL(r.Context(), cs.Tenant(), oauth.AuthRequest{AccountID: cs.AccountID, Slug: slug,
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

// handleHostedKeys connects a key-based app with the form's fields. Errors
// come back next to their field; what was typed is kept, except secrets.
func (s *Server) handleHostedKeys(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	app, ok := s.connections.Catalog.App(slug)
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
		_, err := s.connections.SaveKeys(r.Context(), cs.Tenant(), "connect:"+cs.ID, cs.AccountID, slug, values)
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
	page, err := s.buildHostedPage(r, cs)
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
	return s.renderHosted(w, r, cs, page, http.StatusBadRequest)
}

// handleHostedDisconnect removes the account's connections to an app.
func (s *Server) handleHostedDisconnect(w http.ResponseWriter, r *http.Request, cs *linkd.ConnectSession) error {
	slug := r.PathValue("slug")
	if _, err := s.connections.Disconnect(r.Context(), cs.Tenant(), "connect:"+cs.ID, cs.AccountID, slug, ""); err != nil {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		backToPage(w, r, slug, "error", reasonDisconnectFailed)
		return nil
	}
	backToPage(w, r, slug, "disconnected", "")
	return nil
}
