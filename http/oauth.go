package http

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/oauth"
)

// handleOAuthURL returns the provider's authorization URL for an account to
// connect an OAuth app (the SDK opens it in a popup and polls the app until
// it shows as connected). Query parameters other than linked_account_id and
// return_to go to the provider, if the catalog lets callers set them for
// the app (a Salesforce login_hint, a Slack team); any other is a 400 that
// names it. A browser page that asks with a session token (from an allowed
// origin, checked before this runs) is the one the callback page tells the
// outcome: its origin is recorded with the flow.
func (s *Server) handleOAuthURL(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	params := url.Values{}
	for k, v := range q {
		if k != "linked_account_id" && k != "return_to" {
			params[k] = v
		}
	}
	req := oauth.AuthRequest{AccountID: id, Slug: r.PathValue("slug"), ReturnTo: q.Get("return_to"), Params: params}
	if c := callerFrom(r.Context()); c != nil && c.session != nil {
		if o, err := linkd.NormalizeOrigin("Origin", r.Header.Get("Origin")); err == nil {
			req.Origin = o
		}
	}
	u, err := s.connections.AuthURL(r.Context(), tenant(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"auth_url": u})
	return nil
}

// callbackPage is where the provider sends the customer back. Its one
// script (with the response's nonce) tells the page that opened the popup
// that the app is connected, posting only to the origin that asked for
// the consent URL, and closes the popup. It shows linkd's words only.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .OK}}Connected{{else}}Connection failed{{end}} · linkd</title>
<style nonce="{{.Nonce}}">body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.err{color:#a4161a}</style></head>
<body><main>{{if .OK}}<h1>Connected to {{.App}}</h1><p>You can close this window.</p>
<script nonce="{{.Nonce}}">{{if .Origin}}window.opener && window.opener.postMessage({linkd: "connected", slug: {{.Slug}}}, {{.Origin}}); {{end}}setTimeout(function(){ window.close() }, 800)</script>
{{else}}<h1 class="err">Could not connect{{if .App}} to {{.App}}{{end}}</h1><p>{{.Message}}</p><p>Close this window and try again.</p>{{end}}
</main></body></html>`))

// setCallbackHeaders locks the callback's answers down: the URL holds a
// code and a state, so no Referer may carry it on and no cache may keep
// it; the page runs only its own nonced script and cannot be framed (a
// framed callback could be clickjacked or read).
func setCallbackHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// handleOAuthCallback is where providers send the customer back. It shows
// a small page (the SDK's popup closes itself), or redirects to the
// return_to given when the flow started, with the outcome in the query:
// linkd_status, and linkd_error as a reason code (oauth.Failure words it),
// never text.
func (s *Server) handleOAuthCallback(w http.ResponseWriter, r *http.Request) error {
	nonce := newNonce()
	setCallbackHeaders(w, nonce)
	res, err := s.connections.Callback(r.Context(), r.URL.Query(), r.Cookies())
	if linkd.ErrorCode(err) == linkd.EINTERNAL {
		s.logger.ErrorContext(r.Context(), "oauth callback", "err", err, "request_id", requestID(r.Context()))
	}
	data := struct {
		OK                                bool
		Nonce, App, Slug, Origin, Message string
	}{OK: err == nil, Nonce: nonce}
	if res != nil {
		if res.ClearCookie != nil {
			http.SetCookie(w, res.ClearCookie)
		}
		if res.ProviderError != "" {
			s.logger.InfoContext(r.Context(), "oauth provider refused", "slug", res.Slug, "provider_error", res.ProviderError, "request_id", requestID(r.Context()))
		}
		app, _ := s.catalogApp(res.Slug)
		data.App, data.Slug = app.Name, res.Slug
		if err == nil {
			data.Origin = res.Origin
		}
		if res.ReturnTo != "" {
			u, _ := url.Parse(res.ReturnTo)
			q := u.Query()
			q.Set("slug", res.Slug)
			if err != nil {
				reason := res.Reason
				if reason == "" {
					reason = "failed"
				}
				q.Set("linkd_status", "error")
				q.Set("linkd_error", reason)
			} else {
				q.Set("linkd_status", "connected")
			}
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return nil
		}
	}
	status := http.StatusOK
	if err != nil {
		data.Message = linkd.ErrorMessage(err)
		switch linkd.ErrorCode(err) {
		case linkd.EFORBIDDEN:
			status = http.StatusForbidden
		case linkd.EINTERNAL:
			status = http.StatusInternalServerError
		default:
			status = http.StatusBadRequest
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return callbackPage.Execute(w, data)
}

// handleMigrateToken imports an OAuth grant obtained elsewhere:
// {linked_account_id, slug, auth_object: {access_token, refresh_token,
// token_type, scope, expires_in | expires_at}}.
func (s *Server) handleMigrateToken(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		LinkedAccountID string `json:"linked_account_id"`
		Slug            string `json:"slug"`
		AuthObject      *struct {
			AccessToken  string     `json:"access_token"`
			RefreshToken string     `json:"refresh_token"`
			TokenType    string     `json:"token_type"`
			Scope        string     `json:"scope"`
			ExpiresIn    *int64     `json:"expires_in"`
			ExpiresAt    *time.Time `json:"expires_at"`
		} `json:"auth_object"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.LinkedAccountID == "" {
		if id, err := accountFor(r); err == nil {
			req.LinkedAccountID = id
		}
	}
	noteAccount(r, req.LinkedAccountID)
	if req.Slug == "" {
		return linkd.FieldError("slug", "slug is required")
	}
	if req.AuthObject == nil {
		return linkd.FieldError("auth_object", "auth_object is required")
	}
	a := req.AuthObject
	in := oauth.MigrateInput{AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, TokenType: a.TokenType, Scope: a.Scope}
	switch {
	case a.ExpiresAt != nil:
		e := linkd.StoreTime(*a.ExpiresAt)
		in.ExpiresAt = &e
	case a.ExpiresIn != nil:
		if *a.ExpiresIn < 0 || *a.ExpiresIn > 10*365*24*3600 {
			return linkd.FieldError("auth_object.expires_in", "auth_object.expires_in must be a number of seconds")
		}
		e := linkd.StoreTime(s.now().Add(time.Duration(*a.ExpiresIn) * time.Second))
		in.ExpiresAt = &e
	}
	if _, err := s.connections.Migrate(r.Context(), tenant(r), actor(r), req.LinkedAccountID, req.Slug, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}
