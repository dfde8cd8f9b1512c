package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	linkdhttp "github.com/linkd-dev/linkd/http"
)

// connectTestprov connects cust to testprov through the hosted page, as its
// customer would, and returns the refresh token linkd holds.
func (f *fixture) connectTestprov() {
	f.t.Helper()
	f.setUpOAuth()
	b := browser(f.t)
	if res, seen := follow(f.t, b, f.startHosted(b, f.hostedLink())); res.StatusCode != 200 || !f.connected() {
		f.t.Fatalf("connect: %d, visited %v", res.StatusCode, seen)
	}
}

// secrets returns what linkd holds for cust's connection to slug.
func (f *fixture) secrets(slug string) (*linkd.Connection, *linkd.ConnectionSecrets) {
	f.t.Helper()
	tn := linkd.Tenant{OrgID: orgOf(f.t, f, "a"), Env: linkd.EnvTest}
	acct, conns, err := f.store.Connections(f.t.Context(), tn, "cust")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range conns {
		if c.Slug == slug {
			sec, err := f.accounts.OpenConnection(tn, acct, c)
			if err != nil {
				f.t.Fatal(err)
			}
			return c, sec
		}
	}
	f.t.Fatalf("no %s connection", slug)
	return nil, nil
}

// expireSoon makes cust's testprov token expire in d, as if time had passed.
func (f *fixture) expireSoon(d time.Duration) {
	f.t.Helper()
	tn := linkd.Tenant{OrgID: orgOf(f.t, f, "a"), Env: linkd.EnvTest}
	_, err := f.store.PutConnection(f.t.Context(), tn, "cust", "testprov", linkd.AuthOAuth2,
		func(_ *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
			next := *cur
			exp := time.Now().Add(d).UTC().Truncate(time.Microsecond)
			next.TokenExpiresAt = &exp
			return &next, nil, nil, nil
		})
	if err != nil {
		f.t.Fatal(err)
	}
}

const credsPath = la + "/cust/connection/testprov/credentials"

// TestCredentials: the backend reads a working token (never the refresh
// token), refreshed on request; browsers, other tenants and unknown apps
// get nothing; every read is audited without the value; an ended grant is
// a 409 naming the state.
func TestCredentials(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newOAuthFixture(t, store)
		f.connectTestprov()
		_, sec := f.secrets("testprov")

		res := f.do("GET", credsPath, "a", nil)
		if res.status != 200 || res.json["auth_type"] != "oauth2" || res.json["access_token"] != sec.AccessToken || res.json["token_type"] != "Bearer" {
			t.Fatalf("credentials: %d %s", res.status, res.raw)
		}
		if strings.Contains(string(res.raw), sec.RefreshToken) || strings.Contains(string(res.raw), "refresh_token") {
			t.Fatalf("the refresh token was returned: %s", res.raw)
		}
		if cc := res.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control = %q", cc)
		}
		if exp, _ := res.json["expires_at"].(string); exp == "" {
			t.Fatalf("no expires_at: %s", res.raw)
		}
		if scopes, _ := res.json["scopes"].([]any); len(scopes) != 2 {
			t.Fatalf("scopes: %s", res.raw)
		}
		if n := f.provider.Refreshes.Load(); n != 0 {
			t.Fatalf("a token valid for an hour was refreshed %d times", n)
		}

		// Who may not read them.
		for _, c := range []struct {
			name, key, path string
			status          int
		}{
			{"session token", f.bearerFor("a", "cust"), credsPath, 403},
			{"no key", "", credsPath, 401},
			{"another org", "b", credsPath, 404},
			{"another environment", "aprod", credsPath, 404},
			{"unknown app", "a", la + "/cust/connection/nope/credentials", 404},
			{"app not connected", "a", la + "/cust/connection/stripe/credentials", 404},
			{"unknown account", "a", la + "/ghost/connection/testprov/credentials", 404},
			{"bad force_refresh", "a", credsPath + "?force_refresh=maybe", 400},
		} {
			if res := f.do("GET", c.path, c.key, nil); res.status != c.status || strings.Contains(string(res.raw), sec.AccessToken) {
				t.Errorf("%s: %d %s, want %d", c.name, res.status, res.raw, c.status)
			}
		}

		// force_refresh spends the refresh token once and hands out the new
		// access token; the provider rotated the refresh token.
		res = f.do("GET", credsPath+"?force_refresh=true", "a", nil)
		_, now := f.secrets("testprov")
		if res.status != 200 || res.json["access_token"] != now.AccessToken || now.AccessToken == sec.AccessToken || now.RefreshToken == sec.RefreshToken {
			t.Fatalf("force_refresh: %d %s", res.status, res.raw)
		}
		if n := f.provider.Refreshes.Load(); n != 1 {
			t.Fatalf("provider saw %d refreshes, want 1", n)
		}

		// Every read is audited, with who and which app, never a value.
		tn := linkd.Tenant{OrgID: orgOf(t, f, "a"), Env: linkd.EnvTest}
		entries, _, err := f.store.ListAudit(t.Context(), tn, linkd.AuditFilter{AccountID: "cust", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		reads := 0
		for _, e := range entries {
			if e.Action == linkd.AuditCredentialsRead {
				reads++
				if e.Details["slug"] != "testprov" || e.Actor == "" {
					t.Errorf("audit entry %+v", e)
				}
			}
			for _, v := range []string{sec.AccessToken, sec.RefreshToken, now.AccessToken, now.RefreshToken} {
				if strings.Contains(e.Actor+string(mustMarshal(t, e.Details)), v) {
					t.Fatalf("a secret in the audit log: %+v", e)
				}
			}
		}
		if reads != 2 {
			t.Fatalf("%d credential reads audited, want 2", reads)
		}

		// The customer revokes the grant at the provider: the next refresh
		// is refused, the connection expires, and reads say so.
		if err := f.provider.Manager.RemoveRefreshToken(t.Context(), now.RefreshToken); err != nil {
			t.Fatal(err)
		}
		for i, path := range []string{credsPath + "?force_refresh=true", credsPath} {
			res = f.do("GET", path, "a", nil)
			if res.status != 409 || res.json["error"] != "CONNECTION_EXPIRED" || !strings.Contains(res.json["message"].(string), "expired") {
				t.Fatalf("read %d after the grant ended: %d %s", i, res.status, res.raw)
			}
		}
	})
}

// TestCredentialsKeyBased: a key-based app's fields come back as entered.
func TestCredentialsKeyBased(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store, 0)
		f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "C"})
		if res := f.do("PUT", la+"/integration/save-key-credentials/stripe?linked_account_id=cust", "a", map[string]any{"secret_key": "rk_test_123"}); res.status != 200 {
			t.Fatalf("save keys: %d %s", res.status, res.raw)
		}
		res := f.do("GET", la+"/cust/connection/stripe/credentials", "a", nil)
		fields, _ := res.json["fields"].(map[string]any)
		if res.status != 200 || res.json["auth_type"] != "keybased" || fields["secret_key"] != "rk_test_123" || res.json["access_token"] != nil {
			t.Fatalf("credentials: %d %s", res.status, res.raw)
		}
	})
}

// TestCredentialsRefreshOnce: reads on two servers sharing one database,
// all at once, of a token about to expire, spend its rotating refresh token
// once, and every reader gets the new access token.
func TestCredentialsRefreshOnce(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newOAuthFixture(t, store)
		f.connectTestprov()
		f.expireSoon(time.Minute)

		// A second instance: its own services (so its own in-process
		// single-flight) and server, on the same database.
		c := f.connections
		other := connect.NewService(store, c.Accounts, c.Catalog, c.PublicURL)
		other.Owner = "instance-2"
		srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: linkd.NewServices(store, c.Keys, ""), Connections: other})
		t.Cleanup(srv.Close)
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)

		const readers = 16
		tokens := make([]string, readers)
		var wg sync.WaitGroup
		for i := range readers {
			base := f.url
			if i%2 == 1 {
				base = ts.URL
			}
			wg.Go(func() {
				req, _ := http.NewRequest("GET", base+credsPath, nil)
				req.Header.Set("x-api-key", f.keys["a"])
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var body struct {
					AccessToken string `json:"access_token"`
				}
				if res.StatusCode != 200 {
					t.Errorf("reader %d: %d", i, res.StatusCode)
				}
				decodeJSON(t, res.Body, &body)
				tokens[i] = body.AccessToken
			})
		}
		wg.Wait()
		if n := f.provider.Refreshes.Load(); n != 1 {
			t.Fatalf("the provider saw %d refreshes, want 1", n)
		}
		conn, sec := f.secrets("testprov")
		if conn.Status != linkd.ConnActive || conn.TokenExpiresAt.Before(time.Now().Add(30*time.Minute)) {
			t.Fatalf("after the refresh: %+v", conn)
		}
		for i, tok := range tokens {
			if tok != sec.AccessToken {
				t.Errorf("reader %d got %q, want the refreshed token", i, tok)
			}
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJSON(t *testing.T, r io.Reader, v any) {
	t.Helper()
	if err := json.NewDecoder(r).Decode(v); err != nil {
		t.Error(err)
	}
}
