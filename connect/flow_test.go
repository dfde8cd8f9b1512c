package connect_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/oauthtest"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
)

type fixture struct {
	svc    *connect.Service
	store  linkd.Store
	tenant linkd.Tenant
	prov   *oauthtest.Provider
	now    time.Time
}

func newFixture(t *testing.T, s linkd.Store) *fixture {
	p := oauthtest.NewProvider(t, "http://linkd.test/oauth/callback")
	apps, err := catalog.Load(strings.NewReader(p.CatalogYAML("testprov", "Test Provider")))
	if err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	rand.Read(master)
	keys, _ := vault.New(master)
	f := &fixture{store: s, prov: p, now: time.Now().UTC()}
	clock := func() time.Time { return f.now }
	accounts := linkd.NewAccountService(s, keys)
	accounts.Now = clock
	f.svc = connect.NewService(s, accounts, apps, "http://linkd.test")
	f.svc.Now = clock
	org := &linkd.Org{ID: linkd.NewID(), Name: "o-" + linkd.NewID(), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	f.tenant = linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	name := "Customer"
	if _, err := accounts.Create(t.Context(), f.tenant, "test", linkd.AccountInput{AccountID: "cust", Name: &name}); err != nil {
		t.Fatal(err)
	}
	return f
}

// authorize starts a flow and lets the provider approve it, returning the
// callback query the provider redirects the browser to.
func (f *fixture) authorize(t *testing.T) url.Values {
	t.Helper()
	u, err := f.svc.AuthURL(t.Context(), f.tenant, connect.AuthRequest{AccountID: "cust", Slug: "testprov"})
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(u)
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("scope") != "read write" ||
		q.Get("redirect_uri") != "http://linkd.test/oauth/callback" || len(q.Get("state")) < 40 {
		t.Fatalf("authorize URL %s", u)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), "http://linkd.test/oauth/callback") {
		t.Fatalf("provider answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

func TestOAuthFlow(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		ctx := t.Context()
		// Until the tenant sets client credentials the app is not offered.
		if _, err := f.svc.AuthURL(ctx, f.tenant, connect.AuthRequest{AccountID: "cust", Slug: "testprov"}); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("AuthURL without credentials: %v", err)
		}
		on, id, secret := true, oauthtest.ClientID, oauthtest.ClientSecret
		if _, err := f.svc.PutSettings(ctx, f.tenant, "test", "testprov", connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthURL(ctx, f.tenant, connect.AuthRequest{AccountID: "cust", Slug: "testprov", ReturnTo: "https://evil.example/steal"}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("open redirect accepted: %v", err)
		}
		if _, err := f.svc.AuthURL(ctx, f.tenant, connect.AuthRequest{AccountID: "nobody", Slug: "testprov"}); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("AuthURL for a missing account: %v", err)
		}

		// The full code + PKCE flow stores the tokens, sealed.
		cb := f.authorize(t)
		res, err := f.svc.Callback(ctx, cb, nil)
		if err != nil || res.AccountID != "cust" || res.Slug != "testprov" {
			t.Fatalf("Callback: %+v, %v", res, err)
		}
		acct, conns, err := s.Connections(ctx, f.tenant, "cust")
		if err != nil || len(conns) != 1 || conns[0].Status != linkd.ConnActive || conns[0].TokenExpiresAt == nil || acct.ConnectedApps != 1 {
			t.Fatalf("connection: %+v %v", conns, err)
		}
		sec, err := f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])
		if err != nil || sec.AccessToken == "" || sec.RefreshToken == "" {
			t.Fatalf("secrets: %+v %v", sec, err)
		}
		if strings.Contains(string(conns[0].Credentials), sec.AccessToken) {
			t.Fatal("the access token is stored in clear")
		}
		if ti, err := f.prov.Manager.LoadAccessToken(context.Background(), sec.AccessToken); err != nil || ti.GetUserID() != oauthtest.UserID {
			t.Fatalf("the provider does not know the stored token: %v", err)
		}

		// The refresher renews the token before it expires.
		refresher := connect.NewRefresher(f.svc, worker.Options{Owner: "test"})
		if n, err := refresher.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("refresh of a fresh token: %d, %v", n, err)
		}
		f.now = conns[0].TokenExpiresAt.Add(-time.Minute)
		if n, err := refresher.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("refresh: %d, %v", n, err)
		}
		acct, conns, _ = s.Connections(ctx, f.tenant, "cust")
		sec2, _ := f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])
		if sec2.AccessToken == sec.AccessToken || conns[0].Status != linkd.ConnActive || conns[0].LastRefreshAt == nil {
			t.Fatalf("after refresh: %+v", conns[0])
		}
		if _, err := f.prov.Manager.LoadAccessToken(context.Background(), sec2.AccessToken); err != nil {
			t.Fatalf("the refreshed token is unknown to the provider: %v", err)
		}
		// A refresh the provider refuses (invalid_grant) expires the
		// connection; the account must reconnect, which clears it.
		if err := f.prov.Manager.RemoveRefreshToken(context.Background(), sec2.RefreshToken); err != nil {
			t.Fatal(err)
		}
		// Within RefreshRetry of the last refresh the token is left alone,
		// however close its expiry: no refresh loop for short-lived tokens.
		f.now = conns[0].TokenExpiresAt.Add(-time.Minute)
		if n, err := refresher.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("refresh right after a refresh: %d, %v", n, err)
		}
		f.now = f.now.Add(connect.RefreshRetry)
		if n, err := refresher.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("refused refresh: %d, %v", n, err)
		}
		views, _ := f.svc.AccountApps(ctx, f.tenant, "cust", "testprov")
		if c := views[0].Connections[0]; c.Status != linkd.ConnExpired || c.LastRefreshError == "" {
			t.Fatalf("after invalid_grant: %+v", c)
		}
		if n, _ := refresher.Drain(ctx); n != 0 {
			t.Fatal("an expired connection is refreshed again")
		}
		f.now = time.Now().UTC()
		if _, err := f.svc.Callback(ctx, f.authorize(t), nil); err != nil {
			t.Fatal(err)
		}
		acct, conns, _ = s.Connections(ctx, f.tenant, "cust")
		if conns[0].Status != linkd.ConnActive || conns[0].RefreshFailures != 0 {
			t.Fatalf("reconnect did not clear the expiry: %+v", conns[0])
		}
		sec, _ = f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])

		// Tokens from another system can be brought over; the refresher
		// then keeps them fresh.
		if _, err := f.svc.Migrate(ctx, f.tenant, "test", "cust", "testprov", connect.MigrateInput{}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("migrate without tokens: %v", err)
		}
		if _, err := f.svc.Migrate(ctx, f.tenant, "test", "cust", "testprov", connect.MigrateInput{RefreshToken: sec.RefreshToken}); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if n, err := refresher.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("refresh of a migrated refresh token: %d, %v", n, err)
		}
		acct, conns, _ = s.Connections(ctx, f.tenant, "cust")
		if sec3, _ := f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0]); sec3.AccessToken == "" || conns[0].Status != linkd.ConnActive {
			t.Fatalf("after migrating: %+v", conns[0])
		}
		sec, _ = f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])

		// A state works once.
		if _, err := f.svc.Callback(ctx, cb, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("reused state: %v", err)
		}
		// An unknown state, or a forged one, is refused without a provider call.
		forged := url.Values{"state": {"forged"}, "code": {cb.Get("code")}}
		if _, err := f.svc.Callback(ctx, forged, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("forged state: %v", err)
		}
		// An expired state is refused.
		late := f.authorize(t)
		f.now = f.now.Add(linkd.OAuthStateTTL + time.Second)
		if _, err := f.svc.Callback(ctx, late, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("expired state: %v", err)
		}
		f.now = time.Now().UTC()
		// A customer who denies access gets the provider's reason.
		denied := f.authorize(t)
		denied.Del("code")
		denied.Set("error", "access_denied")
		if _, err := f.svc.Callback(ctx, denied, nil); linkd.ErrorCode(err) != linkd.EINVALID || !strings.Contains(linkd.ErrorMessage(err), "access_denied") {
			t.Fatalf("denied: %v", err)
		}
		// A code replayed with another state's verifier fails at the provider.
		a, b := f.authorize(t), f.authorize(t)
		swapped := url.Values{"state": {a.Get("state")}, "code": {b.Get("code")}}
		if _, err := f.svc.Callback(ctx, swapped, nil); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("code with the wrong verifier: %v", err)
		}

		// Disconnect queues the refresh token for revocation and forgets it;
		// the revoker revokes it at the provider, retrying a failure later.
		removed, err := f.svc.Disconnect(ctx, f.tenant, "test", "cust", "testprov", "")
		if err != nil || len(removed) != 1 {
			t.Fatalf("Disconnect: %d, %v", len(removed), err)
		}
		if acct, conns, _ := s.Connections(ctx, f.tenant, "cust"); len(conns) != 0 || acct.ConnectedApps != 0 {
			t.Fatalf("after disconnect: %d connections", len(conns))
		}
		revoker := connect.NewRevoker(f.svc, worker.Options{Owner: "test"})
		f.prov.RevokeFails.Store(1)
		if n, err := revoker.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("first revocation attempt: %d, %v", n, err)
		}
		if _, err := f.prov.Manager.LoadRefreshToken(context.Background(), sec.RefreshToken); err != nil {
			t.Fatal("the token is gone although the provider failed")
		}
		if n, _ := revoker.Drain(ctx); n != 0 {
			t.Fatal("a failed revocation was retried before its backoff")
		}
		f.now = f.now.Add(2 * time.Minute)
		if n, err := revoker.Drain(ctx); err != nil || n != 1 || len(f.prov.Revoked()) != 1 || f.prov.Revoked()[0] != sec.RefreshToken {
			t.Fatalf("retry: %d, %v (revoked %d)", n, err, len(f.prov.Revoked()))
		}
		if _, err := f.prov.Manager.LoadRefreshToken(context.Background(), sec.RefreshToken); err == nil {
			t.Fatal("the provider still honours the refresh token")
		}
		if n, _ := revoker.Drain(ctx); n != 0 {
			t.Fatal("the queue is not empty")
		}
		audit, _, _ := s.ListAudit(ctx, f.tenant, linkd.AuditFilter{AccountID: "cust", Limit: 1})
		if len(audit) != 1 || audit[0].Action != "connection.revoke" || audit[0].Details["outcome"] != "revoked at the provider" {
			t.Fatalf("audit: %+v", audit)
		}

		// Deleting the account revokes its tokens the same way.
		f.now = time.Now().UTC()
		_, err = f.svc.Callback(ctx, f.authorize(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		acct, conns, _ = s.Connections(ctx, f.tenant, "cust")
		sec, _ = f.svc.Accounts.OpenConnection(f.tenant, acct, conns[0])
		if err := f.svc.Accounts.Delete(ctx, f.tenant, "test", "cust"); err != nil {
			t.Fatal(err)
		}
		if n, err := revoker.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("revocation after delete: %d, %v", n, err)
		}
		if _, err := f.prov.Manager.LoadRefreshToken(context.Background(), sec.RefreshToken); err == nil {
			t.Fatal("a deleted account's refresh token still works at the provider")
		}
	})
}
