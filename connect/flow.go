package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// AuthRequest is what starting an OAuth connection takes.
type AuthRequest struct {
	AccountID string
	Slug      string
	// ReturnTo is where the customer's browser goes after the callback: a
	// path on linkd or a URL on its public origin (an open redirect would
	// hand the outcome to anyone); "" shows the callback page instead.
	ReturnTo string
	// Params are authorize parameters the caller adds for this connection.
	// Only those the catalog allows for the app (App.AuthorizeParams) are
	// accepted, once each; any other is refused with EINVALID naming it.
	Params url.Values
	// Browser is the secret of the browser that starts the flow at linkd
	// (BrowserCookie): the callback then completes only in a browser that
	// presents it. "" when linkd never sees that browser, as when an API
	// caller passes the consent URL on.
	Browser string
	// Origin is the web origin of the page that asked for the consent URL
	// (a browser calling with a session token from an allowed origin); the
	// callback page posts its message to that origin only. "" for none.
	Origin string
}

// Limits of the parameters a caller adds to an authorize URL.
const (
	maxAuthParams     = 20
	maxAuthParamBytes = 512
)

// AuthURL starts connecting an OAuth app for an account: it stores a
// single-use state and returns the provider's authorization URL.
func (s *Service) AuthURL(ctx context.Context, t linkd.Tenant, req AuthRequest) (string, error) {
	if err := linkd.ValidateAccountID(req.AccountID); err != nil {
		return "", err
	}
	app, set, err := s.app(ctx, t, req.Slug)
	if err != nil {
		return "", err
	}
	if app.AuthType != linkd.AuthOAuth2 {
		return "", linkd.FieldError("slug", "%s connects with keys, not OAuth 2.0", req.Slug)
	}
	if err := s.checkReturnTo(req.ReturnTo); err != nil {
		return "", err
	}
	params, err := checkAuthParams(app, req.Params)
	if err != nil {
		return "", err
	}
	origin := ""
	if req.Origin != "" {
		if origin, err = linkd.NormalizeOrigin("Origin", req.Origin); err != nil {
			return "", err
		}
	}
	cfg, err := s.config(t, app, set)
	if err != nil {
		return "", err
	}
	var b [32]byte
	rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	returnTo, err := s.sealReturnTo(state, req.ReturnTo)
	if err != nil {
		return "", err
	}
	st := &linkd.OAuthState{Hash: stateHash(state), AccountID: req.AccountID, Slug: req.Slug, ReturnTo: returnTo,
		CreatedAt: now, ExpiresAt: now.Add(linkd.OAuthStateTTL), Origin: origin}
	if req.Browser != "" {
		st.BrowserHash = browserHash(req.Browser)
	}
	if err := s.store.CreateOAuthState(ctx, t, st); err != nil {
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
	for k, v := range params {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return cfg.AuthCodeURL(state, opts...), nil
}

// checkAuthParams returns the caller's authorize parameters if the app
// allows every one of them, each given once as a short line of text; else
// EINVALID naming the first one (in name order) that is not. Empty values
// are dropped.
func checkAuthParams(app *linkd.App, given url.Values) (map[string]string, error) {
	if len(given) == 0 {
		return nil, nil
	}
	allowed := app.AuthorizeParams()
	names := slices.Sorted(maps.Keys(given))
	if len(names) > maxAuthParams {
		return nil, linkd.FieldError(names[maxAuthParams], "at most %d authorize parameters may be given", maxAuthParams)
	}
	out := make(map[string]string, len(names))
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			takes := "none"
			if len(allowed) > 0 {
				takes = strings.Join(allowed, ", ")
			}
			return nil, linkd.FieldError(k, "%s does not take the authorize parameter %q from a caller (it takes: %s)", app.Name, clip(k, 64), takes)
		}
		vs := given[k]
		if len(vs) > 1 {
			return nil, linkd.FieldError(k, "%s is given %d times; give it once", k, len(vs))
		}
		v := vs[0]
		if len(v) > maxAuthParamBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return nil, linkd.FieldError(k, "%s must be at most %d bytes of text without control characters", k, maxAuthParamBytes)
		}
		if v != "" {
			out[k] = v
		}
	}
	return out, nil
}

// clip shortens s to at most n bytes, for error messages that repeat input.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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
	// ReturnTo is where the flow asked the browser to go; empty when the
	// callback came from another browser than the one that started it
	// (where it leads is none of that browser's business).
	ReturnTo string
	// Origin is the origin of the page that asked for the consent URL,
	// the only one the callback page may tell the outcome.
	Origin string
	// Reason says why the callback did not connect (Failure), in a form
	// fit for a URL; empty when it did.
	Reason string
	// ProviderError is what the provider said when it refused (its error
	// code and description), for the log only: anyone can write words
	// into a callback URL, so they are never shown.
	ProviderError string
	// ClearCookie, when set, deletes the cookie that bound the flow to its
	// browser; the caller sets it on its response.
	ClearCookie *http.Cookie
}

// Callback finishes an authorization: it takes the state (once), checks
// that the browser is the one that started the flow (when linkd saw it:
// cookies are the request's), trades the code (with the PKCE verifier) for
// tokens at the provider, and stores the connection with its tokens sealed.
// When it does not connect, the error's message is linkd's own (Failure),
// never the provider's text.
func (s *Service) Callback(ctx context.Context, q url.Values, cookies []*http.Cookie) (*CallbackResult, error) {
	state := q.Get("state")
	if state == "" {
		return nil, linkd.FieldError("state", "the callback has no state")
	}
	st, err := s.store.TakeOAuthState(ctx, stateHash(state), s.now())
	if err != nil {
		return nil, err
	}
	if st.ReturnTo, err = s.openReturnTo(state, st.ReturnTo); err != nil {
		return nil, err
	}
	app, _ := s.Catalog.App(st.Slug)
	fail := func(res *CallbackResult, code, reason string) (*CallbackResult, error) {
		res.Reason = reason
		return res, &linkd.Error{Code: code, Field: "state", Message: Failure(reason, appName(app, st.Slug))}
	}
	var clear *http.Cookie
	if len(st.BrowserHash) > 0 {
		clear = s.expiredBrowserCookie(st.BrowserHash)
		if !browserPresent(st.BrowserHash, cookies) {
			return fail(&CallbackResult{Slug: st.Slug, ClearCookie: clear}, linkd.EFORBIDDEN, ReasonOtherBrowser)
		}
	}
	res := &CallbackResult{Tenant: st.Tenant(), AccountID: st.AccountID, Slug: st.Slug, ReturnTo: st.ReturnTo, Origin: st.Origin, ClearCookie: clear}
	if e := q.Get("error"); e != "" {
		res.ProviderError = clip(e, 64) + ": " + clip(q.Get("error_description"), 256)
		reason := ReasonProvider
		if _, known := providerErrors[e]; known {
			reason = e
		}
		return fail(res, linkd.EINVALID, reason)
	}
	code := q.Get("code")
	if code == "" {
		return fail(res, linkd.EINVALID, ReasonNoCode)
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
			res.ProviderError = clip(re.ErrorCode, 64) + ": " + clip(re.ErrorDescription, 256)
			return fail(res, linkd.EINVALID, ReasonCodeRefused)
		}
		return res, fmt.Errorf("exchange code with %s: %w", app.Slug, err)
	}
	secret, err := json.Marshal(secretsOf(tok, app, nil))
	if err != nil {
		return res, err
	}
	_, err = s.put(ctx, t, "oauth:"+st.AccountID, st.AccountID, st.Slug, linkd.AuthOAuth2, linkd.EventConnectionCreated, func(c *linkd.Connection) {
		c.Status = linkd.ConnActive
		c.RefreshFailures, c.LastRefreshError, c.LastRefreshAt = 0, "", nil // a new grant, never refreshed
		c.TokenExpiresAt = nil
		if !tok.Expiry.IsZero() {
			e := linkd.StoreTime(tok.Expiry)
			c.TokenExpiresAt = &e
		}
		c.Identifier = identifier(tok)
	}, secret)
	return res, err
}

// secretsOf is what a token response leaves to keep: the tokens, and the
// metadata fields app names. prev is what a refresh replaces (nil for a new
// grant): a provider that leaves out the refresh token or a metadata field
// in a refresh response keeps the old value.
func secretsOf(tok *oauth2.Token, app *linkd.App, prev *linkd.ConnectionSecrets) linkd.ConnectionSecrets {
	sec := linkd.ConnectionSecrets{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
	if sc, ok := tok.Extra("scope").(string); ok {
		sec.Scope = sc
	}
	if prev != nil {
		if sec.RefreshToken == "" {
			sec.RefreshToken = prev.RefreshToken
		}
		if sec.Scope == "" {
			sec.Scope = prev.Scope
		}
		sec.Metadata = maps.Clone(prev.Metadata)
	}
	for _, k := range app.OAuth.Metadata {
		if v, ok := tok.Extra(k).(string); ok && v != "" {
			if sec.Metadata == nil {
				sec.Metadata = map[string]string{}
			}
			sec.Metadata[k] = v
		}
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
	return s.put(ctx, t, actor, accountID, slug, linkd.AuthOAuth2, linkd.EventConnectionCreated, func(c *linkd.Connection) {
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
