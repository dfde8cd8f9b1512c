package connect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
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
	// RefreshLease is how long a refresh may hold a connection by
	// default.
	RefreshLease = 2 * time.Minute
	// MinRefreshLease is the shortest refresh lease, which leaves a
	// refresh a workable budget (see refreshBudget): 2.5 s for the
	// exchange with the provider, 5 s in all, and 5 s to spare.
	MinRefreshLease = 10 * time.Second
	// RefreshTenantCap is how many refreshes of one tenant the
	// refresher runs at once: a tenant whose provider hangs (each
	// attempt then lasts the token client's timeout) must not take
	// every slot while other tenants' tokens expire.
	RefreshTenantCap = 2
	// RefreshHostCap is how many refreshes against one token endpoint
	// (its URL's host and port) the refresher runs at once: a provider
	// that hangs for all its tenants at once (an outage) would otherwise
	// take every slot, the tenant cap notwithstanding, while the tokens of
	// every other provider expire. It halves the refresher's pace when a
	// single provider has tokens due, which 2 refreshes at once of a
	// provider answering in a fraction of a second keep up with.
	RefreshHostCap = 2
	// RefreshSlowAfter is how long a refresh may take before its token
	// endpoint's host counts as stalled (worker.Options.SlowAfter): its
	// refreshes then run in a lane of RefreshSlowLane slots of their own,
	// so that however many providers hang at once, the healthy ones keep
	// the refresher's other slots. A provider answers a refresh within a
	// second or two; the token client gives up only after 30.
	RefreshSlowAfter = 5 * time.Second
	// RefreshSlowLane is how many refreshes of stalled hosts run at once.
	RefreshSlowLane = 2
)

// NewRefresher returns a refresher of svc's connections. It leases them
// for svc's refresh lease (o.Lease is ignored: the credentials route and
// refresh's own budget go by the same one). Zero options take a poll of
// 30 seconds or half the lease, whichever is shorter (a connection whose
// refresh died with its process is due again when the lease runs out,
// and no commit wakes the refresher then), 4 refreshes at once, at most
// RefreshTenantCap of one tenant among them, and RefreshHostCap against
// one token endpoint host across every instance (the store counts the
// leases in flight); the refreshes of hosts that stall (RefreshSlowAfter)
// run in a lane of RefreshSlowLane slots of their own.
func NewRefresher(svc *Service, o worker.Options) *Refresher {
	o.Name = "refresh"
	o.Lease = svc.refreshLease()
	o.Poll = cmp.Or(o.Poll, min(30*time.Second, o.Lease/2))
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	o.TenantCap = cmp.Or(o.TenantCap, RefreshTenantCap)
	o.GroupCap = cmp.Or(o.GroupCap, RefreshHostCap)
	o.SlowAfter = cmp.Or(o.SlowAfter, RefreshSlowAfter)
	o.SlowConcurrency = cmp.Or(o.SlowConcurrency, RefreshSlowLane)
	if o.Clock == nil {
		o.Clock = svc.now
	}
	r := &Refresher{Service: svc, ahead: svc.refreshAhead()}
	r.loop = worker.New(o, worker.Source[linkd.RefreshJob]{
		Claim: func(ctx context.Context, c linkd.Claim) ([]linkd.RefreshJob, error) {
			// The loop names hosts; the store filters and counts apps.
			c.SkipGroups = r.appsOfHosts(c.SkipGroups)
			if len(c.OnlyGroups) > 0 {
				if c.OnlyGroups = r.appsOfHosts(c.OnlyGroups); len(c.OnlyGroups) == 0 {
					return nil, nil // no app is on those hosts any more
				}
			}
			if c.GroupCap > 0 {
				c.GroupOf = r.tokenHosts()
			}
			return r.store.ClaimRefreshes(ctx, c, c.Now.Add(r.ahead), c.Now.Add(-RefreshRetry))
		},
		Run: func(ctx context.Context, j linkd.RefreshJob) error {
			if _, err := r.refresh(ctx, j.Tenant, j.AccountID, j.ConnectionID, "linkd:refresher"); err != nil {
				return fmt.Errorf("refresh the %s token of %s: %w", j.Slug, j.AccountID, err)
			}
			return nil
		},
		Tenant: func(j linkd.RefreshJob) linkd.Tenant { return j.Tenant },
		Group:  func(j linkd.RefreshJob) string { return r.tokenHost(j.Slug) },
	})
	return r
}

// tokenHost is the host (and port) of the token endpoint of the app with
// slug: the refreshes of every app and tenant sent there stall together
// when it hangs. It is "" (not capped) for an app the catalog no longer
// has, whose refresh fails at once.
func (s *Service) tokenHost(slug string) string {
	app, _ := s.Catalog.App(slug)
	return tokenHostOf(app)
}

func tokenHostOf(app *linkd.App) string {
	if app == nil || app.OAuth == nil {
		return ""
	}
	u, err := url.Parse(app.OAuth.TokenURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// tokenHosts maps the slug of every OAuth app to its token endpoint's
// host, for the store to count the refreshes in flight per host.
func (s *Service) tokenHosts() map[string]string {
	out := map[string]string{}
	for _, app := range s.Catalog.Apps() {
		if h := tokenHostOf(app); h != "" {
			out[app.Slug] = h
		}
	}
	return out
}

// appsOfHosts returns the slugs of the OAuth apps whose token endpoint is
// on one of hosts.
func (s *Service) appsOfHosts(hosts []string) []string {
	if len(hosts) == 0 {
		return nil
	}
	var out []string
	for _, app := range s.Catalog.Apps() {
		if h := tokenHostOf(app); h != "" && slices.Contains(hosts, h) {
			out = append(out, app.Slug)
		}
	}
	return out
}

// Run refreshes until ctx ends.
func (r *Refresher) Run(ctx context.Context) { r.loop.Run(ctx) }

// Drain refreshes the tokens that are due and reports how many it handled.
func (r *Refresher) Drain(ctx context.Context) (int, error) { return r.loop.Drain(ctx) }

// refreshAhead is how long before expiry a token counts as due.
func (s *Service) refreshAhead() time.Duration { return cmp.Or(s.RefreshAhead, RefreshAhead) }

// refreshLease is how long a refresh holds its connection.
func (s *Service) refreshLease() time.Duration { return cmp.Or(s.RefreshLease, RefreshLease) }

// refreshBudget is how long one refresh may take, from its start to its
// record, and how long of that the exchange with the provider may take.
// A refresh is not heartbeated, and its record does not check the lease:
// were it still running when its lease ran out, another instance could
// lease the connection and send the same refresh token again (which a
// provider that rotates tokens refuses, expiring the connection). So it
// ends within half its lease, the other half to spare for the time
// between the claim and the start and for the instances' clocks; and the
// exchange ends within half of that, so that a rotated token the
// provider sent at the last moment still has time to be saved.
func (s *Service) refreshBudget() (total, exchange time.Duration) {
	total = s.refreshLease() / 2
	return total, total / 2
}

// refresh refreshes one connection, whose refresh lease the caller holds,
// and records the outcome (which releases the lease). refreshErr is the
// provider's refusal or failure, recorded on the connection; err is a
// failure to record anything.
func (s *Service) refresh(ctx context.Context, t linkd.Tenant, accountID, connID, actor string) (refreshErr, err error) {
	total, exchange := s.refreshBudget()
	deadline := time.Now().Add(total)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
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
	// The refresh budget bounds them (and the token client's timeout the
	// exchange), so that they end while the lease holds.
	ctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	now := s.now()
	var tok *oauth2.Token
	if sec.RefreshToken == "" {
		refreshErr = errors.New("the provider gave no refresh token")
	} else {
		xctx, cancel := context.WithTimeout(ctx, exchange)
		defer cancel()
		hctx := context.WithValue(xctx, oauth2.HTTPClient, s.httpClient())
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
