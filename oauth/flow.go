package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/linkd-dev/linkd"
)

// config builds the oauth2 client configuration of an app for a tenant,
// with the tenant's client credentials.
func (s *Service) config(t linkd.Tenant, app *linkd.App, set *linkd.AppSettings) (*oauth2.Config, error) {
	secret, err := s.Keys.Open(set.DataKey, linkd.AppSettingsOwner(t, app.Slug), "client_secret", set.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("open client secret of %s: %w", app.Slug, err)
	}
	style := oauth2.AuthStyleAutoDetect
	switch app.OAuth.AuthStyle {
	case "header":
		style = oauth2.AuthStyleInHeader
	case "params":
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     set.ClientID,
		ClientSecret: string(secret),
		Endpoint:     oauth2.Endpoint{AuthURL: app.OAuth.AuthorizeURL, TokenURL: app.OAuth.TokenURL, AuthStyle: style},
		RedirectURL:  s.RedirectURL(),
	}, nil
}

// verifier derives the PKCE code verifier of a state: 43 characters of
// base64url, as RFC 7636 asks, never stored.
func (s *Service) verifier(state string) string {
	return base64.RawURLEncoding.EncodeToString(s.Keys.MAC("pkce-verifier", []byte(state)))
}

func stateHash(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// AuthURL starts connecting an OAuth app for an account: it stores a
// single-use state and returns the provider's authorization URL. returnTo
// is where the customer's browser goes after the callback; it must be on
// linkd's own origin (an open redirect would hand codes' outcomes to anyone).
func (s *Service) AuthURL(ctx context.Context, t linkd.Tenant, accountID, slug, returnTo string, extra url.Values) (string, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	app, set, err := s.app(ctx, t, slug)
	if err != nil {
		return "", err
	}
	if app.AuthType != linkd.AuthOAuth2 {
		return "", linkd.FieldError("slug", "%s connects with keys, not OAuth 2.0", slug)
	}
	if err := s.checkReturnTo(returnTo); err != nil {
		return "", err
	}
	cfg, err := s.config(t, app, set)
	if err != nil {
		return "", err
	}
	var b [32]byte
	rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	st := &linkd.OAuthState{Hash: stateHash(state), AccountID: accountID, Slug: slug, ReturnTo: returnTo, CreatedAt: now, ExpiresAt: now.Add(linkd.OAuthStateTTL)}
	if err := s.Store.CreateOAuthState(ctx, t, st); err != nil {
		return "", err
	}
	var opts []oauth2.AuthCodeOption
	if len(app.OAuth.Scopes) > 0 {
		sep := app.OAuth.ScopeSeparator
		if sep == "" {
			sep = " "
		}
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(app.OAuth.Scopes, sep)))
	}
	if app.OAuth.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(s.verifier(state)))
	}
	for k, v := range app.OAuth.ExtraParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	// Per-connection parameters the caller passes (a Salesforce instance,
	// a Shopify shop) cannot override what makes the flow safe.
	for k, vs := range extra {
		switch k {
		case "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "response_type", "scope", "linked_account_id":
			continue
		}
		if len(vs) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
		}
	}
	return cfg.AuthCodeURL(state, opts...), nil
}

// checkReturnTo accepts an empty target, a path on linkd, or a URL on
// linkd's public origin.
func (s *Service) checkReturnTo(returnTo string) error {
	if returnTo == "" {
		return nil
	}
	u, err := url.Parse(returnTo)
	pub, _ := url.Parse(s.PublicURL)
	switch {
	case err != nil:
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(returnTo, "//"):
		return nil
	case pub != nil && u.Scheme == pub.Scheme && u.Host == pub.Host:
		return nil
	}
	return linkd.FieldError("return_to", "return_to must be a path on linkd or a URL on %s", s.PublicURL)
}

// CallbackResult is what the callback did, for the page it shows.
type CallbackResult struct {
	Tenant    linkd.Tenant
	AccountID string
	Slug      string
	ReturnTo  string
}

// Callback finishes an authorization: it takes the state (once), trades the
// code (with the PKCE verifier) for tokens at the provider, and stores the
// connection with its tokens sealed. A provider error (the customer denied
// access) is reported as EINVALID with the provider's description.
func (s *Service) Callback(ctx context.Context, q url.Values) (*CallbackResult, error) {
	state := q.Get("state")
	if state == "" {
		return nil, linkd.FieldError("state", "the callback has no state")
	}
	st, err := s.Store.TakeOAuthState(ctx, stateHash(state), s.now())
	if err != nil {
		return nil, err
	}
	res := &CallbackResult{Tenant: st.Tenant(), AccountID: st.AccountID, Slug: st.Slug, ReturnTo: st.ReturnTo}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return res, linkd.FieldError("error", "the provider refused the authorization (%s)", msg)
	}
	code := q.Get("code")
	if code == "" {
		return res, linkd.FieldError("code", "the callback has no code")
	}
	t := st.Tenant()
	app, set, err := s.app(ctx, t, st.Slug)
	if err != nil {
		return res, err
	}
	cfg, err := s.config(t, app, set)
	if err != nil {
		return res, err
	}
	var opts []oauth2.AuthCodeOption
	if app.OAuth.PKCE {
		opts = append(opts, oauth2.VerifierOption(s.verifier(state)))
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.httpClient())
	tok, err := cfg.Exchange(ctx, code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return res, linkd.FieldError("code", "the provider refused the code: %s %s", re.ErrorCode, re.ErrorDescription)
		}
		return res, fmt.Errorf("exchange code with %s: %w", app.Slug, err)
	}
	secret, err := json.Marshal(secretsOf(tok))
	if err != nil {
		return res, err
	}
	_, err = s.put(ctx, t, "oauth:"+st.AccountID, st.AccountID, st.Slug, linkd.AuthOAuth2, true, func(c *linkd.Connection) {
		c.Status = linkd.ConnActive
		c.RefreshFailures, c.LastRefreshError, c.LastRefreshAt = 0, "", nil // a new grant, never refreshed
		c.TokenExpiresAt = nil
		if !tok.Expiry.IsZero() {
			e := tok.Expiry.UTC().Truncate(time.Microsecond)
			c.TokenExpiresAt = &e
		}
		c.Identifier = identifier(tok)
	}, secret)
	return res, err
}

func secretsOf(tok *oauth2.Token) linkd.ConnectionSecrets {
	sec := linkd.ConnectionSecrets{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
	if sc, ok := tok.Extra("scope").(string); ok {
		sec.Scope = sc
	}
	return sec
}

// identifier picks a non-secret label of the connected identity from the
// token response, where providers put one (Slack's team, Notion's
// workspace, Salesforce's instance).
func identifier(tok *oauth2.Token) string {
	if team, ok := tok.Extra("team").(map[string]any); ok {
		if name, ok := team["name"].(string); ok {
			return name
		}
	}
	for _, k := range []string{"workspace_name", "instance_url", "hub_domain"} {
		if v, ok := tok.Extra(k).(string); ok {
			return v
		}
	}
	return ""
}

func (s *Service) httpClient() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// MigrateInput is an existing OAuth grant brought over from another system.
type MigrateInput struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	Scope        string
	ExpiresAt    *time.Time
}

// Migrate stores tokens obtained elsewhere as the account's connection to an
// OAuth app (PUT /api/v2/public/migrate-token), so customers moving to linkd
// do not have to reconnect. The refresher takes over from there.
func (s *Service) Migrate(ctx context.Context, t linkd.Tenant, actor, accountID, slug string, in MigrateInput) (*linkd.Connection, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	app, _, err := s.app(ctx, t, slug)
	if err != nil {
		return nil, err
	}
	if app.AuthType != linkd.AuthOAuth2 {
		return nil, linkd.FieldError("slug", "%s is key-based; save its keys instead", slug)
	}
	if in.AccessToken == "" && in.RefreshToken == "" {
		return nil, linkd.FieldError("auth_object.access_token", "auth_object needs an access_token or a refresh_token")
	}
	for name, v := range map[string]string{"access_token": in.AccessToken, "refresh_token": in.RefreshToken, "scope": in.Scope} {
		if len(v) > linkd.MaxCredentialsBytes {
			return nil, linkd.FieldError("auth_object."+name, "auth_object.%s is longer than %d bytes", name, linkd.MaxCredentialsBytes)
		}
	}
	secret, err := json.Marshal(linkd.ConnectionSecrets{AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, TokenType: in.TokenType, Scope: in.Scope})
	if err != nil {
		return nil, err
	}
	return s.put(ctx, t, actor, accountID, slug, linkd.AuthOAuth2, true, func(c *linkd.Connection) {
		c.Status = linkd.ConnActive
		c.RefreshFailures, c.LastRefreshError, c.LastRefreshAt = 0, "", nil // a new grant, never refreshed
		c.TokenExpiresAt = in.ExpiresAt
		if c.TokenExpiresAt == nil && in.AccessToken == "" {
			// Only a refresh token: refresh at once to get an access token.
			now := s.now()
			c.TokenExpiresAt = &now
		}
	}, secret)
}
