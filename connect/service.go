// Package connect connects linked accounts to apps and keeps what hangs off
// a connection: key-based connections (keys.go), the OAuth 2.0 flow with
// PKCE and browser binding (flow.go), token refresh (refresh.go) and
// revocation (revoke.go), credentials for the backend (credentials.go),
// each account's configs and workflow switches (config.go), and each
// tenant's app settings (appsettings.go). Secrets are sealed with the
// account's data key before they reach a store.
package connect

import (
	"context"
	"net/http"
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
	// RefreshLease is how long a refresh holds its connection, for the
	// background refresher and the credentials route alike (RefreshLease,
	// 2 minutes, when zero; at least MinRefreshLease). A refresh is not
	// heartbeated: it bounds itself by half its lease instead.
	RefreshLease time.Duration
	Now          func() time.Time
	// Runs, when set, starts the workflows a connection's lifecycle
	// triggers (created, expired), queued with the change.
	Runs *linkd.ExecutionService

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
		return nil, linkd.AppNotFound(slug)
	}
	return out, nil
}

// app returns an available app or ENOTFOUND naming the slug.
func (s *Service) app(ctx context.Context, t linkd.Tenant, slug string) (*linkd.App, *linkd.AppSettings, error) {
	app, ok := s.Catalog.App(slug)
	notFound := linkd.AppNotFound(slug)
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

// put creates or replaces a connection with sealed secret, making the
// account's data key if it has none. event is what the change announces
// to webhooks (Connection Created for a new grant or keys, Connection
// Expired from the refresher), with an audit entry; "" for a change worth
// neither (a routine token refresh).
func (s *Service) put(ctx context.Context, t linkd.Tenant, actor, accountID, slug, authType, event string, set func(*linkd.Connection), secret []byte) (*linkd.Connection, error) {
	queued := false
	conn, err := s.store.PutConnection(ctx, t, accountID, slug, authType, func(acct *linkd.LinkedAccount, cur *linkd.Connection, configs linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		queued = false
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
		if event != "" {
			ev = &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: actor, Action: action, AccountID: accountID,
				Fields: []string{"connections." + slug}, Details: map[string]any{"slug": slug, "auth_type": authType, "status": next.Status},
				Events: []*linkd.Event{linkd.NewConnectionEvent(t, event, accountID, slug, now)}}
			if s.Runs != nil {
				// Workflows triggered by the change are queued with it.
				if ev.Executions, err = s.Runs.LifecycleRuns(t, acct, slug, event, configs); err != nil {
					return nil, nil, nil, err
				}
				queued = len(ev.Executions) > 0
			}
		}
		return next, made, ev, nil
	})
	if err == nil && queued {
		s.Runs.WakeRuns()
	}
	return conn, err
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
		now := s.now()
		return revs, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: actor, Action: "connection.delete", AccountID: accountID,
			Fields: []string{"connections." + slug}, Details: map[string]any{"slug": slug, "removed": len(removed), "revocations_queued": len(revs)},
			Events: linkd.ConnectionEvents(t, linkd.EventConnectionDeleted, accountID, removed, now)}, nil
	})
}
