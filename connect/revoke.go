package connect

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Revoker revokes queued tokens at their providers (RFC 7009), so that
// disconnecting an app or deleting an account ends the grant at the provider
// too. Any instance may run one: revocations are leased, retried with
// backoff, and the row (with the sealed token) is deleted once the provider
// confirmed or the attempts ran out. Every outcome goes to the audit log.
type Revoker struct {
	*Service
	logger      *slog.Logger
	maxAttempts int
	loop        *worker.Loop[*linkd.Revocation]
}

// Revocation retries: MaxRevokeAttempts attempts with a backoff from one
// minute, doubling to about two hours (some four hours in all).
const (
	MaxRevokeAttempts = 8
	revokeBackoff     = time.Minute
	revokeBackoffMax  = 128 * time.Minute
)

// NewRevoker returns a revoker of svc's revocation queue. Zero options
// take a 1-minute lease, a 10-second poll and 4 revocations at once.
func NewRevoker(svc *Service, o worker.Options) *Revoker {
	o.Name = "revoke"
	o.Lease = cmp.Or(o.Lease, time.Minute)
	o.Poll = cmp.Or(o.Poll, 10*time.Second)
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	if o.Clock == nil {
		o.Clock = svc.now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Revoker{Service: svc, logger: o.Logger, maxAttempts: MaxRevokeAttempts}
	r.loop = worker.New(o, worker.Source[*linkd.Revocation]{
		Claim:  svc.store.ClaimRevocations,
		Run:    r.attempt,
		Tenant: func(rev *linkd.Revocation) linkd.Tenant { return linkd.Tenant{OrgID: rev.OrgID, Env: rev.Env} },
	})
	return r
}

// Run revokes until ctx ends.
func (r *Revoker) Run(ctx context.Context) { r.loop.Run(ctx) }

// Drain attempts the revocations that are due and reports how many it
// attempted (revoked, given up, or put back for a retry).
func (r *Revoker) Drain(ctx context.Context) (int, error) { return r.loop.Drain(ctx) }

// attempt tries one revocation and records the outcome: done, given up,
// or due again after a backoff.
func (r *Revoker) attempt(ctx context.Context, rev *linkd.Revocation) error {
	outcome, err := r.revoke(ctx, rev)
	if err != nil && rev.Attempts+1 < r.maxAttempts {
		r.logger.Warn("token revocation failed; will retry", "slug", rev.Slug, "attempt", rev.Attempts+1, "err", err)
		return r.store.RetryRevocation(ctx, rev, r.now().Add(worker.Backoff(rev.Attempts, revokeBackoff, revokeBackoffMax)))
	}
	if err != nil {
		outcome = fmt.Sprintf("gave up after %d attempts: %v", rev.Attempts+1, err)
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: r.now(), Actor: "linkd:revoker", Action: "connection.revoke", AccountID: rev.AccountID,
		Details: map[string]any{"slug": rev.Slug, "outcome": outcome, "attempts": rev.Attempts + 1}}
	return r.store.FinishRevocation(ctx, rev, ev)
}

// revoke calls the provider's revocation endpoint. It returns the outcome
// to record, or an error worth retrying.
func (r *Revoker) revoke(ctx context.Context, rev *linkd.Revocation) (string, error) {
	app, ok := r.Catalog.App(rev.Slug)
	if !ok || app.OAuth == nil || app.OAuth.RevocationURL == "" {
		return "the provider has no revocation endpoint; the token was destroyed", nil
	}
	t := linkd.Tenant{OrgID: rev.OrgID, Env: rev.Env}
	settings, err := r.store.AppSettings(ctx, t)
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
	req, err := revocationRequest(ctx, app.OAuth, set.ClientID, string(secret), string(token))
	if err != nil {
		return "", err
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

// revocationRequest builds the call that revokes token: RFC 7009's form POST,
// or the provider's own shape (spec.Revocation). "{client_id}" in the URL is
// replaced by the client id. The client authenticates in the body
// ("params") or with HTTP Basic, as the spec says, else as at the token
// endpoint.
func revocationRequest(ctx context.Context, spec *linkd.OAuthSpec, clientID, clientSecret, token string) (*http.Request, error) {
	rs := linkd.RevocationSpec{}
	if spec.Revocation != nil {
		rs = *spec.Revocation
	}
	method, field := cmp.Or(rs.Method, http.MethodPost), cmp.Or(rs.TokenField, "token")
	endpoint := strings.ReplaceAll(spec.RevocationURL, "{client_id}", url.PathEscape(clientID))
	inBody := cmp.Or(rs.Auth, spec.AuthStyle) == "params"
	var body io.Reader
	var contentType string
	if rs.Format == "json" {
		m := map[string]string{field: token}
		if inBody {
			m["client_id"], m["client_secret"] = clientID, clientSecret
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	} else {
		form := url.Values{field: {token}}
		if inBody {
			form.Set("client_id", clientID)
			form.Set("client_secret", clientSecret)
		}
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if !inBody {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	return req, nil
}
