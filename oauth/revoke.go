package oauth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Revoker revokes queued tokens at their providers (RFC 7009), so that
// disconnecting an app or deleting an account ends the grant at the provider
// too. Any instance may run one: revocations are leased, retried with
// backoff, and the row (with the sealed token) is deleted once the provider
// confirmed or the attempts ran out. Every outcome goes to the audit log.
type Revoker struct {
	*Service
	Logger      *slog.Logger
	Owner       string
	Poll        time.Duration // default 10 s
	MaxAttempts int           // default 8 (about four hours of backoff)
}

// Run revokes until ctx ends.
func (r *Revoker) Run(ctx context.Context) {
	poll := r.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	for ctx.Err() == nil {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger().Error("revoke tokens", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

func (r *Revoker) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// RunOnce handles the revocations that are due and reports how many it
// finished (revoked or given up).
func (r *Revoker) RunOnce(ctx context.Context) (int, error) {
	max := r.MaxAttempts
	if max <= 0 {
		max = 8
	}
	due, err := r.Store.ClaimRevocations(ctx, r.Owner, r.now(), time.Minute, 20)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, rev := range due {
		outcome, err := r.revoke(ctx, rev)
		if err != nil && rev.Attempts+1 < max {
			backoff := time.Minute << min(rev.Attempts, 7)
			r.logger().Warn("token revocation failed; will retry", "slug", rev.Slug, "attempt", rev.Attempts+1, "err", err)
			if rerr := r.Store.RetryRevocation(ctx, rev, r.now().Add(backoff)); rerr != nil {
				return done, rerr
			}
			continue
		}
		if err != nil {
			outcome = fmt.Sprintf("gave up after %d attempts: %v", rev.Attempts+1, err)
		}
		ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: r.now(), Actor: "linkd:revoker", Action: "connection.revoke", AccountID: rev.AccountID,
			Details: map[string]any{"slug": rev.Slug, "outcome": outcome, "attempts": rev.Attempts + 1}}
		if err := r.Store.FinishRevocation(ctx, rev, ev); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// revoke calls the provider's revocation endpoint. It returns the outcome
// to record, or an error worth retrying.
func (r *Revoker) revoke(ctx context.Context, rev *linkd.Revocation) (string, error) {
	app, ok := r.Catalog.App(rev.Slug)
	if !ok || app.OAuth == nil || app.OAuth.RevocationURL == "" {
		return "the provider has no revocation endpoint; the token was destroyed", nil
	}
	t := linkd.Tenant{OrgID: rev.OrgID, Env: rev.Env}
	settings, err := r.Store.AppSettings(ctx, t)
	if err != nil {
		return "", err
	}
	set := settings[rev.Slug]
	if set == nil || set.ClientID == "" || len(set.ClientSecret) == 0 {
		return "the app's client credentials are gone; the token was destroyed without revoking it", nil
	}
	secret, err := r.Keys.Open(set.DataKey, linkd.AppSettingsOwner(t, rev.Slug), "client_secret", set.ClientSecret)
	if err != nil {
		return "", err
	}
	token, err := r.Keys.Open(rev.DataKey, "revocation/"+rev.ID, "token", rev.Token)
	if err != nil {
		return "", err
	}
	form := url.Values{"token": {string(token)}}
	if app.OAuth.AuthStyle == "params" {
		form.Set("client_id", set.ClientID)
		form.Set("client_secret", string(secret))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.OAuth.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if app.OAuth.AuthStyle != "params" {
		req.SetBasicAuth(url.QueryEscape(set.ClientID), url.QueryEscape(string(secret)))
	}
	res, err := r.httpClient().Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s answered %d: %s", app.OAuth.RevocationURL, res.StatusCode, strings.TrimSpace(string(body)))
	}
	return "revoked at the provider", nil
}
