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
// return_to go to the provider (per-connection settings some apps need).
func (s *Server) handleOAuthURL(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	extra := url.Values{}
	for k, v := range q {
		if k != "linked_account_id" && k != "return_to" {
			extra[k] = v
		}
	}
	u, err := s.connections.AuthURL(r.Context(), tenant(r), id, r.PathValue("slug"), q.Get("return_to"), extra)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"auth_url": u})
	return nil
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .OK}}Connected{{else}}Connection failed{{end}} · linkd</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.err{color:#a4161a}</style></head>
<body><main>{{if .OK}}<h1>Connected to {{.App}}</h1><p>You can close this window.</p>
<script>window.opener && window.opener.postMessage({linkd: "connected", slug: {{.Slug}}}, "*"); setTimeout(function(){ window.close() }, 800)</script>
{{else}}<h1 class="err">Could not connect{{if .App}} to {{.App}}{{end}}</h1><p>{{.Message}}</p><p>Close this window and try again.</p>{{end}}
</main></body></html>`))

// handleOAuthCallback is where providers send the customer back. It shows
// a small page (the SDK's popup closes itself), or redirects to the
// return_to given when the flow started, with the outcome in the query.
func (s *Server) handleOAuthCallback(w http.ResponseWriter, r *http.Request) error {
	res, err := s.connections.Callback(r.Context(), r.URL.Query())
	data := struct {
		OK                 bool
		App, Slug, Message string
	}{OK: err == nil}
	if res != nil {
		app, _ := s.catalogApp(res.Slug)
		data.App, data.Slug = app.Name, res.Slug
		if res.ReturnTo != "" {
			u, _ := url.Parse(res.ReturnTo)
			q := u.Query()
			q.Set("slug", res.Slug)
			if err != nil {
				q.Set("linkd_status", "error")
				q.Set("linkd_error", linkd.ErrorMessage(err))
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
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			s.logger.ErrorContext(r.Context(), "oauth callback", "err", err, "request_id", requestID(r.Context()))
		}
		data.Message = linkd.ErrorMessage(err)
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
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
		e := a.ExpiresAt.UTC().Truncate(time.Microsecond)
		in.ExpiresAt = &e
	case a.ExpiresIn != nil:
		if *a.ExpiresIn < 0 || *a.ExpiresIn > 10*365*24*3600 {
			return linkd.FieldError("auth_object.expires_in", "auth_object.expires_in must be a number of seconds")
		}
		e := s.now().UTC().Add(time.Duration(*a.ExpiresIn) * time.Second).Truncate(time.Microsecond)
		in.ExpiresAt = &e
	}
	if _, err := s.connections.Migrate(r.Context(), tenant(r), actor(r), req.LinkedAccountID, req.Slug, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}
