package oauth

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
	ahead       time.Duration
	maxFailures int
	loop        *worker.Loop[linkd.RefreshJob]
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
)

// NewRefresher returns a refresher of svc's connections. Zero options take
// a 2-minute lease, a 30-second poll and 4 refreshes at once.
func NewRefresher(svc *Service, o worker.Options) *Refresher {
	o.Name = "refresh"
	o.Lease = cmp.Or(o.Lease, 2*time.Minute)
	o.Poll = cmp.Or(o.Poll, 30*time.Second)
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	if o.Clock == nil {
		o.Clock = svc.now
	}
	r := &Refresher{Service: svc, ahead: RefreshAhead, maxFailures: MaxRefreshFailures}
	r.loop = worker.New(o, worker.Source[linkd.RefreshJob]{
		Claim: func(ctx context.Context, c linkd.Claim) ([]linkd.RefreshJob, error) {
			return r.Store.ClaimRefreshes(ctx, c, c.Now.Add(r.ahead), c.Now.Add(-RefreshRetry))
		},
		Run: func(ctx context.Context, j linkd.RefreshJob) error {
			if err := r.refresh(ctx, j); err != nil {
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

// refresh refreshes one connection and records the outcome.
func (r *Refresher) refresh(ctx context.Context, j linkd.RefreshJob) error {
	acct, conns, err := r.Store.Connections(ctx, j.Tenant, j.AccountID)
	if err != nil {
		return err
	}
	var conn *linkd.Connection
	for _, c := range conns {
		if c.ID == j.ConnectionID {
			conn = c
		}
	}
	if conn == nil {
		return nil // disconnected meanwhile
	}
	sec, err := r.Accounts.OpenConnection(j.Tenant, acct, conn)
	if err != nil {
		return err
	}
	app, set, err := r.app(ctx, j.Tenant, j.Slug)
	if err != nil {
		return err
	}
	cfg, err := r.config(j.Tenant, app, set)
	if err != nil {
		return err
	}
	now := r.now()
	var tok *oauth2.Token
	var refreshErr error
	if sec.RefreshToken == "" {
		refreshErr = errors.New("the provider gave no refresh token")
	} else {
		hctx := context.WithValue(ctx, oauth2.HTTPClient, r.httpClient())
		tok, refreshErr = cfg.TokenSource(hctx, &oauth2.Token{RefreshToken: sec.RefreshToken, Expiry: now.Add(-time.Second)}).Token()
	}
	max := r.maxFailures
	secret, _ := json.Marshal(sec)
	status, audit := linkd.ConnActive, false
	if refreshErr == nil {
		next := secretsOf(tok)
		if next.RefreshToken == "" {
			next.RefreshToken = sec.RefreshToken // the provider kept the old one
		}
		secret, _ = json.Marshal(next)
	} else {
		var re *oauth2.RetrieveError
		invalid := errors.As(refreshErr, &re) && re.ErrorCode == "invalid_grant"
		if invalid || sec.RefreshToken == "" || conn.RefreshFailures+1 >= max {
			status, audit = linkd.ConnExpired, true
		}
	}
	_, err = r.put(ctx, j.Tenant, "linkd:refresher", j.AccountID, j.Slug, linkd.AuthOAuth2, audit, func(c *linkd.Connection) {
		c.LastRefreshAt = &now
		c.Status = status
		if refreshErr == nil {
			c.RefreshFailures, c.LastRefreshError = 0, ""
			c.TokenExpiresAt = nil
			if !tok.Expiry.IsZero() {
				e := tok.Expiry.UTC().Truncate(time.Microsecond)
				c.TokenExpiresAt = &e
			}
			return
		}
		c.RefreshFailures++
		c.LastRefreshError = fmt.Sprint(refreshErr)
	}, secret)
	return err
}
