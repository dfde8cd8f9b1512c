// Package oauthtest runs a real OAuth 2.0 authorization server
// (github.com/go-oauth2/oauth2/v4) on loopback, for tests of linkd's OAuth
// flows: the oauth package's own, and end-to-end tests that drive a browser
// through the hosted connect page or the dashboard. It is a test helper, in
// a package of its own so that tests of several packages share one provider
// rather than each keeping a copy.
package oauthtest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
)

// The client the provider knows, and the user who approves every consent.
const (
	ClientID     = "client-1"
	ClientSecret = "secret-1"
	UserID       = "user-42"
)

// Provider is an authorization server that approves every authorization
// request at once (as if user UserID had clicked "Allow"), insists on PKCE,
// issues refresh tokens and serves RFC 7009 revocation. The client must
// authenticate with HTTP Basic (auth_style: header).
type Provider struct {
	// URL is the server's base URL; AuthorizeURL, TokenURL and
	// RevocationURL are its endpoints.
	URL, AuthorizeURL, TokenURL, RevocationURL string
	// RedirectURL is the one redirect URI registered for the client: an
	// authorization request naming another is refused, as real providers do.
	RedirectURL string
	// Manager is the provider's token store, to check what it issued
	// (LoadAccessToken, LoadRefreshToken) or to revoke behind linkd's back
	// (RemoveRefreshToken).
	Manager *manage.Manager
	// RevokeFails makes the revocation endpoint answer 503 this many times.
	RevokeFails atomic.Int32
	// Refreshes counts refresh_token grants the token endpoint was asked
	// for, granted or not. Refresh tokens rotate: each grant spends the
	// one it was given, so a second use fails with invalid_grant.
	Refreshes atomic.Int32

	deny    atomic.Bool
	mu      sync.Mutex
	revoked []string
}

// NewProvider starts a provider for t on loopback, with redirectURL (for
// linkd, its PUBLIC_URL + "/oauth/callback") registered for the client. It
// is stopped when t ends.
func NewProvider(t testing.TB, redirectURL string) *Provider {
	t.Helper()
	m := manage.NewDefaultManager()
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: time.Hour, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true})
	m.MustTokenStorage(store.NewMemoryTokenStore())
	clients := store.NewClientStore()
	clients.Set(ClientID, &models.Client{ID: ClientID, Secret: ClientSecret, Domain: redirectURL})
	m.MapClientStorage(clients)
	// The redirect URI must be the registered one exactly (query aside),
	// not merely on the same host as go-oauth2's default check allows.
	m.SetValidateURIHandler(func(registered, redirect string) error {
		u, err := url.Parse(redirect)
		if err != nil {
			return errors.ErrInvalidRedirectURI
		}
		u.RawQuery = ""
		if u.String() != registered {
			return errors.ErrInvalidRedirectURI
		}
		return nil
	})
	cfg := server.NewConfig()
	cfg.ForcePKCE = true
	srv := server.NewServer(cfg, m)
	srv.SetClientInfoHandler(server.ClientBasicHandler)
	srv.SetUserAuthorizationHandler(func(w http.ResponseWriter, r *http.Request) (string, error) { return UserID, nil })
	p := &Provider{RedirectURL: redirectURL, Manager: m}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		if p.deny.Load() {
			p.refuse(w, r)
			return
		}
		if err := srv.HandleAuthorizeRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("grant_type") == "refresh_token" {
			p.Refreshes.Add(1)
		}
		srv.HandleTokenRequest(w, r)
	})
	// RFC 7009 revocation, which go-oauth2 does not serve itself.
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != ClientID || secret != ClientSecret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if p.RevokeFails.Add(-1) >= 0 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		token := r.FormValue("token")
		if err := m.RemoveRefreshToken(r.Context(), token); err == nil {
			p.mu.Lock()
			p.revoked = append(p.revoked, token)
			p.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	p.URL = ts.URL
	p.AuthorizeURL, p.TokenURL, p.RevocationURL = ts.URL+"/authorize", ts.URL+"/token", ts.URL+"/revoke"
	return p
}

// Deny makes the provider answer every authorization request from now on
// as a customer who clicked "Deny" (error=access_denied), or, with false,
// approve them again.
func (p *Provider) Deny(deny bool) { p.deny.Store(deny) }

// refuse redirects back with access_denied, as RFC 6749 §4.1.2.1 says.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != ClientID || u.Scheme+"://"+u.Host+u.Path != p.RedirectURL {
		http.Error(w, "invalid request", http.StatusBadRequest)
		return
	}
	v := url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}}
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// Revoked returns the refresh tokens revoked at the revocation endpoint, in
// order.
func (p *Provider) Revoked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.revoked)
}

// CatalogYAML is a catalog entry (for catalog.Load) of an OAuth app with
// this slug that connects through the provider: PKCE, header auth, scopes
// "read write" and revocation.
func (p *Provider) CatalogYAML(slug, name string) string {
	return `apps:
  - slug: ` + slug + `
    name: ` + name + `
    description: An authorization server on loopback.
    auth_type: oauth2
    oauth2:
      authorize_url: ` + p.AuthorizeURL + `
      token_url: ` + p.TokenURL + `
      revocation_url: ` + p.RevocationURL + `
      scopes: [read, write]
      pkce: true
      auth_style: header
`
}
