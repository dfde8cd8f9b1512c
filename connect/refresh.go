package connect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Refresher refreshes OAuth access tokens shortly before they expire. Any
// instance may run one: a connection is leased while it is refreshed, so two
// instances never spend the same refresh token (which many providers
// rotate, making the second use fail). A refresh the provider refuses with
// invalid_grant, or one that keeps failing, marks the connection expired:
// the customer must reconnect, and a later connect clears it. A failed
// attempt is retried once its lease has run out.
type Refresher struct {
	*Service
	ahead time.Duration
	loop  *worker.Loop[linkd.RefreshJob]
}

// Refresher defaults.
const (
	// RefreshAhead is how long before expiry a token is refreshed.
	RefreshAhead = 5 * time.Minute
	// MaxRefreshFailures is how many failed refreshes in a row expire a
	// connection.
	MaxRefreshFailures = 5
	// RefreshRetry is how long after a refresh (failed, or giving a token
	// that is due again already) the connection may be refreshed again.
	RefreshRetry = 30 * time.Second
	// RefreshLease is how long a refresh may hold a connection.
	RefreshLease = 2 * time.Minute
	// RefreshTenantCap is how many refreshes of one tenant the
	// refresher runs at once: a tenant whose provider hangs (each
	// attempt then lasts the token client's timeout) must not take
	// every slot while other tenants' tokens expire.
	RefreshTenantCap = 2
)

// NewRefresher returns a refresher of svc's connections. Zero options take
// a 2-minute lease, a 30-second poll, 4 refreshes at once and at most
// RefreshTenantCap of one tenant among them.
func NewRefresher(svc *Service, o worker.Options) *Refresher {
	o.Name = "refresh"
	o.Lease = cmp.Or(o.Lease, RefreshLease)
	o.Poll = cmp.Or(o.Poll, 30*time.Second)
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	o.TenantCap = cmp.Or(o.TenantCap, RefreshTenantCap)
	if o.Clock == nil {
		o.Clock = svc.now
	}
	r := &Refresher{Service: svc, ahead: svc.refreshAhead()}
	r.loop = worker.New(o, worker.Source[linkd.RefreshJob]{
		Claim: func(ctx context.Context, c linkd.Claim) ([]linkd.RefreshJob, error) {
			return r.store.ClaimRefreshes(ctx, c, c.Now.Add(r.ahead), c.Now.Add(-RefreshRetry))
		},
		Run: func(ctx context.Context, j linkd.RefreshJob) error {
			if _, err := r.refresh(ctx, j.Tenant, j.AccountID, j.ConnectionID, "linkd:refresher"); err != nil {
				return fmt.Errorf("refresh the %s token of %s: %w", j.Slug, j.AccountID, err)
			}
			return nil
		},
		Tenant: func(j linkd.RefreshJob) linkd.Tenant { return j.Tenant },
	})
	return r
}

// Run refreshes until ctx ends.
func (r *Refresher) Run(ctx context.Context) { r.loop.Run(ctx) }

// Drain refreshes the tokens that are due and reports how many it handled.
func (r *Refresher) Drain(ctx context.Context) (int, error) { return r.loop.Drain(ctx) }

// refreshAhead is how long before expiry a token counts as due.
func (s *Service) refreshAhead() time.Duration { return cmp.Or(s.RefreshAhead, RefreshAhead) }

// refresh refreshes one connection, whose refresh lease the caller holds,
// and records the outcome (which releases the lease). refreshErr is the
// provider's refusal or failure, recorded on the connection; err is a
// failure to record anything.
func (s *Service) refresh(ctx context.Context, t linkd.Tenant, accountID, connID, actor string) (refreshErr, err error) {
	acct, conns, err := s.store.Connections(ctx, t, accountID)
	if err != nil {
		return nil, err
	}
	var conn *linkd.Connection
	for _, c := range conns {
		if c.ID == connID {
			conn = c
		}
	}
	if conn == nil {
		return nil, nil // disconnected meanwhile
	}
	sec, err := s.Accounts.OpenConnection(t, acct, conn)
	if err != nil {
		return nil, err
	}
	app, set, err := s.app(ctx, t, conn.Slug)
	if err != nil {
		return nil, err
	}
	cfg, err := s.config(t, app, set)
	if err != nil {
		return nil, err
	}
	// Once the refresh token is sent the provider may spend it (many
	// rotate it), so the exchange and its record run to the end even if
	// ctx ends — a shutdown, a caller gone — or the new token would be
	// lost with the old one spent, and the customer made to reconnect.
	// The token client's timeout bounds the exchange.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	now := s.now()
	var tok *oauth2.Token
	if sec.RefreshToken == "" {
		refreshErr = errors.New("the provider gave no refresh token")
	} else {
		hctx := context.WithValue(ctx, oauth2.HTTPClient, s.httpClient())
		tok, refreshErr = cfg.TokenSource(hctx, &oauth2.Token{RefreshToken: sec.RefreshToken, Expiry: now.Add(-time.Second)}).Token()
	}
	secret, _ := json.Marshal(sec)
	// Only an expiry is worth an audit entry and a webhook (Connection
	// Expired); a routine refresh is neither.
	status, event := linkd.ConnActive, ""
	if refreshErr == nil {
		secret, _ = json.Marshal(secretsOf(tok, app, sec))
	} else {
		var re *oauth2.RetrieveError
		invalid := errors.As(refreshErr, &re) && re.ErrorCode == "invalid_grant"
		if invalid || sec.RefreshToken == "" || conn.RefreshFailures+1 >= MaxRefreshFailures {
			status, event = linkd.ConnExpired, linkd.EventConnectionExpired
		}
	}
	_, err = s.put(ctx, t, actor, accountID, conn.Slug, linkd.AuthOAuth2, event, func(c *linkd.Connection) {
		c.LastRefreshAt = &now
		c.Status = status
		if refreshErr == nil {
			c.RefreshFailures, c.LastRefreshError = 0, ""
			c.TokenExpiresAt = nil
			if !tok.Expiry.IsZero() {
				e := linkd.StoreTime(tok.Expiry)
				c.TokenExpiresAt = &e
			}
			return
		}
		c.RefreshFailures++
		c.LastRefreshError = fmt.Sprint(refreshErr)
	}, secret)
	return refreshErr, err
}
