package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"

	"github.com/linkd-dev/linkd"
)

// Refresher refreshes OAuth access tokens shortly before they expire. Any
// instance may run one: a connection is leased while it is refreshed, so two
// instances never spend the same refresh token (which many providers
// rotate, making the second use fail). A refresh the provider refuses with
// invalid_grant, or one that keeps failing, marks the connection expired:
// the customer must reconnect, and a later connect clears it.
type Refresher struct {
	*Service
	Logger      *slog.Logger
	Owner       string
	Poll        time.Duration // default 30 s
	Ahead       time.Duration // refresh this long before expiry; default 5 min
	MaxFailures int           // default 5
}

// Run refreshes until ctx ends.
func (r *Refresher) Run(ctx context.Context) {
	poll := r.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for ctx.Err() == nil {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log().Error("refresh tokens", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

func (r *Refresher) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// RunOnce refreshes the tokens that are due and reports how many it handled.
func (r *Refresher) RunOnce(ctx context.Context) (int, error) {
	ahead := r.Ahead
	if ahead <= 0 {
		ahead = 5 * time.Minute
	}
	now := r.now()
	jobs, err := r.Store.ClaimRefreshes(ctx, r.Owner, now, now.Add(ahead), 2*time.Minute, 20)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		if err := r.refresh(ctx, j); err != nil {
			r.log().Error("refresh token", "slug", j.Slug, "linked_account_id", j.AccountID, "err", err)
		}
	}
	return len(jobs), nil
}

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
	max := r.MaxFailures
	if max <= 0 {
		max = 5
	}
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
