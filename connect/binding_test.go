package connect_test

import (
	"errors"
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
)

// enable gives the fixture's tenant the provider's client for testprov.
func (f *fixture) enable(t *testing.T) {
	t.Helper()
	on, id, secret := true, oauthtest.ClientID, oauthtest.ClientSecret
	if _, err := f.svc.PutSettings(t.Context(), f.tenant, "test", "testprov", connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
		t.Fatal(err)
	}
}

// consent starts a flow with req and lets the provider approve it,
// returning the callback query.
func (f *fixture) consent(t *testing.T, req connect.AuthRequest) url.Values {
	t.Helper()
	u, err := f.svc.AuthURL(t.Context(), f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("provider answered %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

func (f *fixture) connectedCount(t *testing.T) int {
	t.Helper()
	_, conns, err := f.store.Connections(t.Context(), f.tenant, "cust")
	if err != nil {
		t.Fatal(err)
	}
	return len(conns)
}

// TestCallbackNeedsTheStartingBrowser: a flow started with a browser
// secret completes only when the callback presents it; elsewhere it is
// refused before the code is traded, says nothing of where the flow
// returns to, and spends the state.
func TestCallbackNeedsTheStartingBrowser(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		f.enable(t)
		ctx := t.Context()
		secret, cookie := f.svc.BrowserCookie()
		if cookie.Value != secret || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/oauth/callback" ||
			cookie.Secure || cookie.MaxAge != int(linkd.OAuthStateTTL.Seconds()) || !strings.HasPrefix(cookie.Name, "linkd_oauth_") {
			t.Fatalf("cookie %+v", cookie)
		}
		req := connect.AuthRequest{AccountID: "cust", Slug: "testprov", ReturnTo: "/connect/ct_secret", Browser: secret}
		for name, cookies := range map[string][]*http.Cookie{
			"no cookie":          nil,
			"another flow's":     {{Name: cookie.Name, Value: "someone else's secret"}},
			"right value, name?": {{Name: "linkd_oauth_0000000000000000", Value: secret}},
		} {
			res, err := f.svc.Callback(ctx, f.consent(t, req), cookies)
			if linkd.ErrorCode(err) != linkd.EFORBIDDEN || res == nil || res.ReturnTo != "" || res.AccountID != "" || res.Reason != connect.ReasonOtherBrowser {
				t.Fatalf("%s: %+v, %v", name, res, err)
			}
			if f.connectedCount(t) != 0 {
				t.Fatalf("%s: connected", name)
			}
		}
		cb := f.consent(t, req)
		res, err := f.svc.Callback(ctx, cb, []*http.Cookie{{Name: "other", Value: "x"}, {Name: cookie.Name, Value: secret}})
		if err != nil || res.ReturnTo != "/connect/ct_secret" || f.connectedCount(t) != 1 {
			t.Fatalf("the starting browser: %+v, %v", res, err)
		}
		if c := res.ClearCookie; c == nil || c.Name != cookie.Name || c.MaxAge >= 0 || c.Path != cookie.Path {
			t.Fatalf("the binding cookie is not cleared: %+v", c)
		}
		if _, err := f.svc.Callback(ctx, cb, []*http.Cookie{{Name: cookie.Name, Value: secret}}); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("a state used twice: %v", err)
		}
		// Without a browser secret (an API caller), no cookie is asked for.
		if res, err := f.svc.Callback(ctx, f.consent(t, connect.AuthRequest{AccountID: "cust", Slug: "testprov"}), nil); err != nil || res.ClearCookie != nil {
			t.Fatalf("a flow without a browser: %+v, %v", res, err)
		}
	})
}

// TestCallbackKeepsTheAskingOrigin: the origin of the page that asked for
// the URL comes back, normalized, with the callback's result.
func TestCallbackKeepsTheAskingOrigin(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		f.enable(t)
		res, err := f.svc.Callback(t.Context(), f.consent(t, connect.AuthRequest{AccountID: "cust", Slug: "testprov", Origin: "HTTPS://App.Example.com:443"}), nil)
		if err != nil || res.Origin != "https://app.example.com" {
			t.Fatalf("origin: %+v, %v", res, err)
		}
		if _, err := f.svc.AuthURL(t.Context(), f.tenant, connect.AuthRequest{AccountID: "cust", Slug: "testprov", Origin: "https://app.example.com/path"}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("a bad origin: %v", err)
		}
	})
}

// TestProviderErrorsInLinkdsWords: the provider's description never
// reaches the message; a known code is named, an unknown one is not.
func TestProviderErrorsInLinkdsWords(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		f.enable(t)
		for code, want := range map[string]string{"access_denied": "access_denied", "server_error": "server_error", "x<script>": "refused the authorization"} {
			q := f.consent(t, connect.AuthRequest{AccountID: "cust", Slug: "testprov"})
			q.Del("code")
			q.Set("error", code)
			q.Set("error_description", "Call +1-555-0100 to unlock your account")
			res, err := f.svc.Callback(t.Context(), q, nil)
			msg := linkd.ErrorMessage(err)
			if linkd.ErrorCode(err) != linkd.EINVALID || !strings.Contains(msg, want) || strings.Contains(msg, "555") || strings.Contains(msg, "<script>") {
				t.Fatalf("error %q: %q", code, msg)
			}
			if res == nil || !strings.Contains(res.ProviderError, "555") {
				t.Fatalf("error %q: the provider's words are not kept for the log: %+v", code, res)
			}
		}
	})
}

// TestAuthorizeParamsAllowList: a caller adds only what the catalog allows
// for the app (allowed_params and auth_inputs), once, as short text; it
// can never override the app's extra_params or linkd's own parameters.
func TestAuthorizeParamsAllowList(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		// The provider's app with a fixed parameter, an allowed one and
		// an input.
		yaml := strings.Replace(f.prov.CatalogYAML("testprov", "Test Provider"), "      auth_style: header\n",
			"      auth_style: header\n      extra_params: {audience: api}\n      allowed_params: [login_hint]\n    auth_inputs: [{name: shop, label: Shop, type: text}]\n", 1)
		apps, err := catalog.Load(strings.NewReader(yaml))
		if err != nil {
			t.Fatal(err)
		}
		f.svc = connect.NewService(s, f.svc.Accounts, apps, "http://linkd.test")
		f.svc.Now = func() time.Time { return f.now }
		f.enable(t)
		start := func(params url.Values) (url.Values, error) {
			u, err := f.svc.AuthURL(t.Context(), f.tenant, connect.AuthRequest{AccountID: "cust", Slug: "testprov", Params: params})
			if err != nil {
				return nil, err
			}
			pu, _ := url.Parse(u)
			return pu.Query(), nil
		}
		q, err := start(url.Values{"login_hint": {"ana@example.com"}, "shop": {"acme"}})
		if err != nil || q.Get("login_hint") != "ana@example.com" || q.Get("shop") != "acme" || q.Get("audience") != "api" {
			t.Fatalf("allowed parameters: %v, %v", q, err)
		}
		if q, err := start(url.Values{"login_hint": {""}}); err != nil || q.Has("login_hint") {
			t.Fatalf("an empty parameter: %v, %v", q, err)
		}
		for name, params := range map[string]url.Values{
			"audience":      {"audience": {"evil"}},                        // fixed by the catalog
			"prompt":        {"prompt": {"none"}, "login_hint": {"a"}},     // not allowed
			"client_id":     {"client_id": {"evil"}},                       // linkd's own
			"state":         {"state": {"x"}},                              // linkd's own
			"login_hint":    {"login_hint": {"a", "b"}},                    // twice
			"shop":          {"shop": {"a\nb"}},                            // a control character
			"code_verifier": {"code_verifier": {strings.Repeat("a", 600)}}, // not allowed, whatever its value
		} {
			_, err := start(params)
			var e *linkd.Error
			if linkd.ErrorCode(err) != linkd.EINVALID || !errors.As(err, &e) || e.Field != name || !strings.Contains(e.Message, name) {
				t.Errorf("%v: %v; want EINVALID naming %s", params, err, name)
			}
		}
		if _, err := start(url.Values{"login_hint": {strings.Repeat("a", 513)}}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Errorf("a long value: %v", err)
		}
	})
}
