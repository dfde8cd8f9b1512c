package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// CredentialsOptions say how credentials are handed out.
type CredentialsOptions struct {
	// Actor is recorded in the audit log as the reader (an API key id);
	// empty for linkd's own use (the proxy), which is not audited per call.
	Actor string
	// Force refreshes an OAuth token even when it is not about to expire.
	Force bool
}

// refreshWait is how long a caller waits for a refresh that another process
// holds the lease of, before it gives up with a conflict.
const refreshWait = 10 * time.Second

// Credentials returns what calling app slug as the linked account needs:
// an OAuth access token that stays valid for RefreshAhead at least, or the
// key fields. A token that expires sooner (or any, with o.Force) is
// refreshed first, under the connection's refresh lease, so neither another
// instance nor the background refresher spends the same refresh token.
func (s *Service) Credentials(ctx context.Context, t linkd.Tenant, accountID, slug string, o CredentialsOptions) (*linkd.Credentials, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	app, ok := s.Catalog.App(slug)
	if !ok {
		return nil, linkd.AppNotFound(slug)
	}
	acct, conn, err := s.connection(ctx, t, accountID, app)
	if err != nil {
		return nil, err
	}
	if app.AuthType == linkd.AuthOAuth2 && (o.Force || s.due(conn, s.now())) {
		if acct, conn, err = s.freshen(ctx, t, accountID, app, conn, o.Force); err != nil {
			return nil, err
		}
	}
	sec, err := s.Accounts.OpenConnection(t, acct, conn)
	if err != nil {
		return nil, err
	}
	if o.Actor != "" {
		ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: s.now(), Actor: o.Actor, Action: linkd.AuditCredentialsRead,
			AccountID: accountID, Details: map[string]any{"slug": slug, "auth_type": conn.AuthType, "refreshed": o.Force}}
		if err := s.store.AppendAudit(ctx, t, ev); err != nil {
			return nil, err
		}
	}
	c := &linkd.Credentials{AuthType: conn.AuthType, AccessToken: sec.AccessToken, TokenType: sec.TokenType,
		ExpiresAt: conn.TokenExpiresAt, Fields: sec.Fields, Metadata: sec.Metadata}
	if sec.Scope != "" {
		c.Scopes = strings.FieldsFunc(sec.Scope, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return c, nil
}

// connection returns the account's usable connection to app, in one read
// (the proxy makes it on every call): ENOTFOUND when the app is not
// available to the tenant or the account has no connection to it,
// ECONFLICT naming the state when it expired.
func (s *Service) connection(ctx context.Context, t linkd.Tenant, accountID string, app *linkd.App) (*linkd.LinkedAccount, *linkd.Connection, error) {
	acct, conns, set, err := s.store.AppConnection(ctx, t, accountID, app.Slug)
	if err != nil {
		return nil, nil, err
	}
	if !Available(t, app, set) {
		return nil, nil, linkd.AppNotFound(app.Slug)
	}
	for _, c := range conns {
		if c.AuthType != app.AuthType {
			continue
		}
		if c.Status != linkd.ConnActive {
			return nil, nil, &linkd.Error{Code: linkd.ECONFLICT, Type: "CONNECTION_EXPIRED", Field: "slug",
				Message: fmt.Sprintf("The connection of linked account %s to %s is %s: the customer must connect %s again", accountID, app.Name, c.Status, app.Name)}
		}
		return acct, c, nil
	}
	return nil, nil, &linkd.Error{Code: linkd.ENOTFOUND, Type: "CONNECTION_NOT_FOUND", Field: "slug",
		Message: fmt.Sprintf("Linked account %s is not connected to %s", accountID, app.Name)}
}

// due reports whether c's access token expires within RefreshAhead of now.
func (s *Service) due(c *linkd.Connection, now time.Time) bool {
	return c.TokenExpiresAt != nil && c.TokenExpiresAt.Before(now.Add(s.refreshAhead()))
}

// freshen refreshes conn under its refresh lease, or waits for whoever
// holds the lease to finish; callers in this process share one attempt.
// The attempt does not end with ctx (once the provider has answered, a
// rotated refresh token must be saved, whoever asked), but the wait does:
// a caller with a deadline (the proxy's timeout) gets ctx's error when it
// passes, while the refresh goes on and records its outcome.
func (s *Service) freshen(ctx context.Context, t linkd.Tenant, accountID string, app *linkd.App, conn *linkd.Connection, force bool) (*linkd.LinkedAccount, *linkd.Connection, error) {
	key := fmt.Sprintf("%s|%s|%s|%t", t.OrgID, t.Env, conn.ID, force)
	type result struct {
		acct *linkd.LinkedAccount
		conn *linkd.Connection
	}
	ch := s.flight.DoChan(key, func() (any, error) {
		acct, c, err := s.refreshOrWait(context.WithoutCancel(ctx), t, accountID, app, conn, force)
		return result{acct, c}, err
	})
	select {
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for the %s token refresh of %s: %w", app.Slug, accountID, context.Cause(ctx))
	case res := <-ch:
		if res.Err != nil {
			return nil, nil, res.Err
		}
		r := res.Val.(result)
		return r.acct, r.conn, nil
	}
}

func (s *Service) refreshOrWait(ctx context.Context, t linkd.Tenant, accountID string, app *linkd.App, conn *linkd.Connection, force bool) (*linkd.LinkedAccount, *linkd.Connection, error) {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, refreshWait+30*time.Second)
	defer cancel()
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		now := s.now()
		// Not due any more, or refreshed since this began: someone
		// else's refresh landed, and the lease is not taken.
		dueBefore := now.Add(s.refreshAhead())
		if force {
			dueBefore = now.Add(100 * 365 * 24 * time.Hour)
		}
		ok, err := s.store.LeaseRefresh(ctx, t, conn.ID, linkd.Claim{Owner: s.owner(), Now: now, Lease: s.refreshLease()}, dueBefore, start)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			refreshErr, err := s.refresh(ctx, t, accountID, conn.ID, "linkd:credentials")
			if err != nil {
				return nil, nil, err
			}
			acct, c, err := s.connection(ctx, t, accountID, app)
			if err != nil || refreshErr == nil {
				return acct, c, err
			}
			// The provider failed but did not end the grant: the old
			// token serves while it lasts, unless a new one was asked for.
			if !force && c.TokenExpiresAt != nil && c.TokenExpiresAt.After(s.now()) {
				return acct, c, nil
			}
			return nil, nil, &linkd.Error{Code: linkd.EUPSTREAM, Type: "REFRESH_FAILED", Field: "slug",
				Message: fmt.Sprintf("%s did not refresh the access token: %s", app.Name, clip(refreshErr.Error(), 200))}
		}
		// Another process holds the lease: use its result once it lands.
		acct, c, err := s.connection(ctx, t, accountID, app)
		if err != nil {
			return nil, nil, err
		}
		refreshedSince := c.LastRefreshAt != nil && !c.LastRefreshAt.Before(start)
		if refreshedSince || (!force && !s.due(c, s.now())) {
			return acct, c, nil
		}
		if s.now().Sub(start) >= refreshWait {
			return nil, nil, &linkd.Error{Code: linkd.ECONFLICT, Type: "REFRESH_IN_PROGRESS", Field: "slug",
				Message: fmt.Sprintf("The %s token of linked account %s is being refreshed elsewhere; try again shortly", app.Name, accountID)}
		}
		wait.Reset(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			return nil, nil, errors.Join(ctx.Err(), errors.New("waiting for a token refresh"))
		case <-wait.C:
		}
	}
}

func (s *Service) owner() string {
	if s.Owner != "" {
		return s.Owner
	}
	return "linkd"
}
