// Package oauth connects linked accounts to apps: key-based credentials now,
// and the OAuth 2.0 flows (authorization code with PKCE, refresh, revocation).
// Secrets are sealed with the account's data key before they reach a store.
package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/linkd-dev/linkd"
)

// Service connects and disconnects apps for linked accounts.
type Service struct {
	store    linkd.Store
	Accounts *linkd.AccountService
	Keys     linkd.Keyring
	Catalog  linkd.Catalog
	// PublicURL is where users reach linkd; the OAuth redirect URL is
	// PublicURL + "/oauth/callback".
	PublicURL string
	// HTTPClient talks to providers (token exchange, refresh, revocation);
	// a client with a 30 s timeout when nil.
	HTTPClient *http.Client
	// RefreshAhead is how long before expiry a token is refreshed, by the
	// background refresher and before credentials are handed out;
	// RefreshAhead (5 minutes) when zero.
	RefreshAhead time.Duration
	// Owner names this process in refresh leases.
	Owner string
	Now   func() time.Time

	flight singleflight.Group // one refresh per connection per process
}

// NewService returns the service over store, with accounts' rules and
// keyring, the apps of catalog, and publicURL (where users reach linkd).
func NewService(store linkd.Store, accounts *linkd.AccountService, catalog linkd.Catalog, publicURL string) *Service {
	return &Service{store: store, Accounts: accounts, Keys: accounts.Keys, Catalog: catalog, PublicURL: publicURL}
}

func (s *Service) now() time.Time { return linkd.NowOf(s.Now) }

// RedirectURL is the OAuth callback to register with every provider.
func (s *Service) RedirectURL() string { return s.PublicURL + "/oauth/callback" }

// Available reports whether the tenant's linked accounts may connect app:
// enabled in the tenant's settings, or enabled by default in the test
// environment; an OAuth app also needs the tenant's client credentials.
func Available(t linkd.Tenant, app *linkd.App, set *linkd.AppSettings) bool {
	enabled := app.EnabledByDefault && t.Env == linkd.EnvTest
	if set != nil {
		enabled = set.Enabled
	}
	if app.AuthType == linkd.AuthOAuth2 {
		return enabled && set != nil && set.ClientID != "" && len(set.ClientSecret) > 0
	}
	return enabled
}

// AppView is an app as one linked account sees it.
type AppView struct {
	App         *linkd.App
	Connections []*linkd.Connection // sorted by auth type
}

// AccountApps returns the apps available to the tenant with the account's
// connections; slug, when not empty, selects one app (ENOTFOUND when it is
// not available). ENOTFOUND when the account does not exist.
func (s *Service) AccountApps(ctx context.Context, t linkd.Tenant, accountID, slug string) ([]AppView, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	settings, err := s.store.AppSettings(ctx, t)
	if err != nil {
		return nil, err
	}
	_, conns, err := s.store.Connections(ctx, t, accountID)
	if err != nil {
		return nil, err
	}
	var out []AppView
	for _, app := range s.Catalog.Apps() {
		if slug != "" && app.Slug != slug {
			continue
		}
		v := AppView{App: app}
		for _, c := range conns {
			if c.Slug == app.Slug {
				v.Connections = append(v.Connections, c)
			}
		}
		// An app the account is connected to stays visible even if it was
		// disabled since, so the connection can still be seen and removed.
		if Available(t, app, settings[app.Slug]) || len(v.Connections) > 0 {
			out = append(out, v)
		}
	}
	if slug != "" && len(out) == 0 {
		return nil, &linkd.Error{Code: linkd.ENOTFOUND, Field: "slug", Type: "INVALID_APP_ID", Message: fmt.Sprintf("Application with slug %s not found", slug)}
	}
	return out, nil
}

// app returns an available app or ENOTFOUND naming the slug.
func (s *Service) app(ctx context.Context, t linkd.Tenant, slug string) (*linkd.App, *linkd.AppSettings, error) {
	app, ok := s.Catalog.App(slug)
	notFound := &linkd.Error{Code: linkd.ENOTFOUND, Field: "slug", Type: "INVALID_APP_ID", Message: fmt.Sprintf("Application with slug %s not found", slug)}
	if !ok {
		return nil, nil, notFound
	}
	settings, err := s.store.AppSettings(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	if !Available(t, app, settings[slug]) {
		return nil, nil, notFound
	}
	return app, settings[slug], nil
}

// SaveKeys connects a key-based app with the customer's fields: required
// ones must be present, unknown ones are refused, values are sealed.
func (s *Service) SaveKeys(ctx context.Context, t linkd.Tenant, actor, accountID, slug string, values map[string]json.RawMessage) (*linkd.Connection, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	app, _, err := s.app(ctx, t, slug)
	if err != nil {
		return nil, err
	}
	if app.AuthType != linkd.AuthKeyBased {
		return nil, linkd.FieldError("slug", "%s connects with OAuth 2.0, not with keys", slug)
	}
	fields, err := checkFields(app, values)
	if err != nil {
		return nil, err
	}
	secret, err := json.Marshal(linkd.ConnectionSecrets{Fields: fields})
	if err != nil {
		return nil, err
	}
	return s.put(ctx, t, actor, accountID, slug, linkd.AuthKeyBased, true, func(c *linkd.Connection) {
		c.Status = linkd.ConnActive
		c.RefreshFailures, c.LastRefreshError, c.LastRefreshAt = 0, "", nil // a new grant, never refreshed
	}, secret)
}

// put creates or replaces a connection with sealed secret, making the
// account's data key if it has none; audit says whether the change is worth
// an audit entry (a routine token refresh is not).
func (s *Service) put(ctx context.Context, t linkd.Tenant, actor, accountID, slug, authType string, audit bool, set func(*linkd.Connection), secret []byte) (*linkd.Connection, error) {
	return s.store.PutConnection(ctx, t, accountID, slug, authType, func(acct *linkd.LinkedAccount, cur *linkd.Connection) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		now := s.now()
		next := &linkd.Connection{ID: linkd.NewID(), AccountPK: acct.ID, Slug: slug, AuthType: authType, CreatedAt: now}
		action := "connection.create"
		if cur != nil {
			c := *cur
			next, action = &c, "connection.update"
		}
		next.UpdatedAt = now
		set(next)
		key, made := acct.DataKey, []byte(nil)
		if key == nil {
			var err error
			if key, err = s.Keys.NewDataKey(linkd.KeyOwner(t, acct.ID)); err != nil {
				return nil, nil, nil, err
			}
			made = key
		}
		sealed, err := s.Keys.Seal(key, linkd.KeyOwner(t, acct.ID), linkd.ConnectionField(next.ID), secret)
		if err != nil {
			return nil, nil, nil, err
		}
		next.Credentials = sealed
		var ev *linkd.AuditEntry
		if audit {
			ev = &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: actor, Action: action, AccountID: accountID,
				Fields: []string{"connections." + slug}, Details: map[string]any{"slug": slug, "auth_type": authType, "status": next.Status}}
		}
		return next, made, ev, nil
	})
}

// checkFields validates key-based input against the app's fields.
func checkFields(app *linkd.App, values map[string]json.RawMessage) (map[string]string, error) {
	known := map[string]linkd.InputField{}
	for _, f := range app.AuthInputs {
		known[f.Name] = f
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		f, ok := known[name]
		if !ok {
			return nil, linkd.FieldError(name, "%s has no field %q", app.Name, name)
		}
		raw := values[name]
		var v string
		switch {
		case json.Unmarshal(raw, &v) == nil:
		case f.Type == "number" || f.Type == "boolean":
			v = string(raw)
		default:
			return nil, linkd.FieldError(name, "%s must be a string", name)
		}
		if len(v) > linkd.MaxUDFValueBytes {
			return nil, linkd.FieldError(name, "%s is longer than %d bytes", name, linkd.MaxUDFValueBytes)
		}
		if f.Type == "select" && v != "" && !hasOption(f.Options, v) {
			return nil, linkd.FieldError(name, "%s must be one of the field's options", f.Label)
		}
		if v != "" {
			out[name] = v
		}
	}
	for _, f := range app.AuthInputs {
		if f.Required && out[f.Name] == "" {
			return nil, linkd.FieldError(f.Name, "%s is required", f.Label)
		}
	}
	return out, nil
}

// Disconnect removes the account's connections with slug (one auth type, or
// all). OAuth tokens are queued for revocation at the provider; the removal
// itself never waits on the provider. Removing nothing is not an error.
func (s *Service) Disconnect(ctx context.Context, t linkd.Tenant, actor, accountID, slug, authType string) ([]*linkd.Connection, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	return s.store.RemoveConnections(ctx, t, accountID, slug, authType, func(acct *linkd.LinkedAccount, removed []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		revs, err := s.Accounts.Revocations(t, acct, removed)
		if err != nil {
			return nil, nil, err
		}
		return revs, &linkd.AuditEntry{ID: linkd.NewID(), Time: s.now(), Actor: actor, Action: "connection.delete", AccountID: accountID,
			Fields: []string{"connections." + slug}, Details: map[string]any{"slug": slug, "removed": len(removed), "revocations_queued": len(revs)}}, nil
	})
}

// SettingsInput changes a tenant's settings of an app; nil fields keep
// their value. An empty ClientSecret clears it.
type SettingsInput struct {
	Enabled      *bool
	ClientID     *string
	ClientSecret *string
}

// PutSettings changes the tenant's settings of an app.
func (s *Service) PutSettings(ctx context.Context, t linkd.Tenant, actor, slug string, in SettingsInput) (*linkd.AppSettings, error) {
	app, ok := s.Catalog.App(slug)
	if !ok {
		return nil, &linkd.Error{Code: linkd.ENOTFOUND, Field: "slug", Type: "INVALID_APP_ID", Message: fmt.Sprintf("Application with slug %s not found", slug)}
	}
	all, err := s.store.AppSettings(ctx, t)
	if err != nil {
		return nil, err
	}
	set := all[slug]
	if set == nil {
		set = &linkd.AppSettings{Slug: slug, Enabled: app.EnabledByDefault && t.Env == linkd.EnvTest}
	}
	var fields []string
	if in.Enabled != nil {
		set.Enabled = *in.Enabled
		fields = append(fields, "enabled")
	}
	if in.ClientID != nil {
		if len(*in.ClientID) > 1024 {
			return nil, linkd.FieldError("client_id", "client_id is longer than 1024 bytes")
		}
		set.ClientID = *in.ClientID
		fields = append(fields, "client_id")
	}
	if in.ClientSecret != nil {
		if len(*in.ClientSecret) > 4096 {
			return nil, linkd.FieldError("client_secret", "client_secret is longer than 4096 bytes")
		}
		set.ClientSecret = nil
		if *in.ClientSecret != "" {
			owner := linkd.AppSettingsOwner(t, slug)
			if set.DataKey == nil {
				if set.DataKey, err = s.Keys.NewDataKey(owner); err != nil {
					return nil, err
				}
			}
			if set.ClientSecret, err = s.Keys.Seal(set.DataKey, owner, "client_secret", []byte(*in.ClientSecret)); err != nil {
				return nil, err
			}
		}
		fields = append(fields, "client_secret")
	}
	if app.AuthType == linkd.AuthKeyBased && (in.ClientID != nil || in.ClientSecret != nil) {
		return nil, linkd.FieldError("client_id", "%s is key-based: it has no OAuth client credentials", app.Name)
	}
	set.UpdatedAt = s.now()
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: set.UpdatedAt, Actor: actor, Action: "application.settings", Fields: fields, Details: map[string]any{"slug": slug}}
	if err := s.store.PutAppSettings(ctx, t, set, ev); err != nil {
		return nil, err
	}
	return set, nil
}

func hasOption(opts []linkd.FieldOption, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}
