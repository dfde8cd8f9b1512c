package http

import (
	"net/http"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
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
	req := connect.AuthRequest{AccountID: id, Slug: r.PathValue("slug"), ReturnTo: q.Get("return_to"), Params: params}
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
	in := connect.MigrateInput{AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, TokenType: a.TokenType, Scope: a.Scope}
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
