package http_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/browsertest"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/oauthtest"
	"github.com/linkd-dev/linkd/worker"
)

// TestHostedPageInBrowser drives a real Chromium through the hosted connect
// page of a real server on loopback, at a phone's width (375 px): an OAuth
// app connected through a real authorization server (oauthtest, consent
// approved at once), a key-based app's form sent first with a required
// field missing and then correctly, and a disconnect whose token is then
// revoked at the provider. Each step is checked in the store, not only on
// the screen. LINKD_SCREENSHOTS=1 refreshes docs/screenshots/hosted-*.png.
func TestHostedPageInBrowser(t *testing.T) {
	if browsertest.Path() == "" {
		browsertest.New(t, 375, 812) // skips, or fails in CI
	}
	for i, e := range dbtest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { testHostedInBrowser(t, e.Open(t), i == 0) })
	}
}

func testHostedInBrowser(t *testing.T, store linkd.Store, screenshots bool) {
	f := newOAuthFixture(t, store)
	prov, public, accounts, conns := f.provider, f.url, f.accounts, f.connections
	ctx := t.Context()
	tn := linkd.Tenant{OrgID: orgOf(t, f, "a"), Env: linkd.EnvTest}
	// The OAuth app set up with the provider's client, and a connect URL
	// made with a session token, as an organization's backend would.
	f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "Globex Ltd"})
	if res := f.do("PUT", "/api/v2/public/application/testprov/settings", "a", map[string]any{"enabled": true, "client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret}); res.json["available"] != true {
		t.Fatalf("settings: %s", res.raw)
	}
	bearer := f.bearerFor("a", "cust")
	res := f.do("POST", "/api/v2/public/connect-url", bearer, map[string]any{"name": "Acme CRM", "button_color": "#0b5fff", "redirect_url": "http://localhost:3000/settings/integrations"})
	hosted, _ := res.json["hosted_url"].(string)
	if !strings.HasPrefix(hosted, public+"/connect/ct_") {
		t.Fatalf("connect-url: %d %s", res.status, res.raw)
	}
	connected := func(slug string) *linkd.Connection {
		t.Helper()
		_, cs, err := store.Connections(ctx, tn, "cust")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Slug == slug {
				return c
			}
		}
		return nil
	}
	b := browsertest.New(t, 375, 812)
	shot := func(name string) {
		if screenshots {
			browsertest.Screenshot(t, b, "../docs/screenshots/hosted-"+name+".png")
		}
	}
	var status, notice, activeID, returnLink string
	var fits bool
	browsertest.Run(t, b, "open the hosted page",
		// Headless Chromium's window is at least 500 px wide; emulate a phone.
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(hosted),
		chromedp.WaitVisible(`#app-testprov[data-state="none"]`, chromedp.ByQuery),
		chromedp.Text(`#status-testprov`, &status, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits),
	)
	if !strings.Contains(status, "Not connected") || !fits {
		t.Fatalf("before connecting: status %q, fits in 375 px: %v", status, fits)
	}
	shot("apps")
	// The keyboard reaches the page's controls, the skip link first.
	browsertest.Run(t, b, "tab to the skip link",
		chromedp.KeyEvent("\t"),
		chromedp.Evaluate(`document.activeElement.className`, &activeID),
	)
	if activeID != "skip" {
		t.Fatalf("first Tab focuses %q, want the skip link", activeID)
	}

	// A customer who denies consent at the provider comes back to the page
	// and is told so; nothing is connected.
	prov.Deny(true)
	browsertest.Run(t, b, "deny the OAuth app",
		chromedp.Click(`#app-testprov button.connect`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice.bad`, chromedp.ByQuery),
		chromedp.Text(`.notice.bad`, &notice, chromedp.ByQuery),
	)
	prov.Deny(false)
	if !strings.Contains(notice, "Could not connect to Test Provider") || !strings.Contains(notice, "access_denied") || connected("testprov") != nil {
		t.Fatalf("after denying: notice %q, connection %v", notice, connected("testprov"))
	}

	// OAuth: to the provider, which approves at once, and back.
	browsertest.Run(t, b, "connect the OAuth app",
		chromedp.Click(`#app-testprov button.connect`, chromedp.ByQuery),
		chromedp.WaitVisible(`#app-testprov[data-state="connected"]`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
		chromedp.Text(`#status-testprov`, &status, chromedp.ByQuery),
		chromedp.Text(`.notice a`, &returnLink, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Connected to Test Provider.") || !strings.Contains(status, "Connected") || returnLink != "Return to localhost:3000" {
		t.Fatalf("after OAuth: notice %q, status %q, link %q", notice, status, returnLink)
	}
	c := connected("testprov")
	if c == nil || c.Status != linkd.ConnActive || c.AuthType != linkd.AuthOAuth2 {
		t.Fatalf("the OAuth connection in the store: %+v", c)
	}
	acct, _, _ := store.Connections(ctx, tn, "cust")
	sec, err := accounts.OpenConnection(tn, acct, c)
	if err != nil || sec.RefreshToken == "" {
		t.Fatalf("tokens: %v", err)
	}
	if ti, err := prov.Manager.LoadAccessToken(ctx, sec.AccessToken); err != nil || ti.GetUserID() != oauthtest.UserID {
		t.Fatalf("the provider does not know the stored token: %v", err)
	}
	shot("connected")

	// A key-based app: the form opens from the keyboard; a missing required
	// field comes back next to the field, focused.
	var errText, invalid string
	var ok bool
	browsertest.Run(t, b, "open the Stripe form with the keyboard",
		chromedp.Focus(`#app-stripe summary`, chromedp.ByQuery),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`#f-stripe-secret_key`, chromedp.ByQuery),
	)
	browsertest.Run(t, b, "send the form empty",
		chromedp.Click(`#app-stripe form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#f-stripe-secret_key-err`, chromedp.ByQuery),
		chromedp.Text(`#f-stripe-secret_key-err`, &errText, chromedp.ByQuery),
		chromedp.AttributeValue(`#f-stripe-secret_key`, "aria-invalid", &invalid, &ok, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement.id`, &activeID),
	)
	if !strings.Contains(errText, "Secret key is required.") || invalid != "true" || activeID != "f-stripe-secret_key" {
		t.Fatalf("empty form: error %q, aria-invalid %q, focus on %q", errText, invalid, activeID)
	}
	if connected("stripe") != nil {
		t.Fatal("an empty form connected stripe")
	}
	shot("form-error")
	browsertest.Run(t, b, "send the form filled in",
		chromedp.SendKeys(`#f-stripe-secret_key`, "sk_test_browser123", chromedp.ByQuery),
		chromedp.Click(`#app-stripe form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#app-stripe[data-state="connected"]`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Connected to Stripe.") {
		t.Fatalf("after the form: notice %q", notice)
	}
	c = connected("stripe")
	if c == nil || c.Status != linkd.ConnActive {
		t.Fatalf("stripe in the store: %+v", c)
	}
	acct, _, _ = store.Connections(ctx, tn, "cust")
	if sec, err := accounts.OpenConnection(tn, acct, c); err != nil || sec.Fields["secret_key"] != "sk_test_browser123" {
		t.Fatalf("stripe's key: %+v %v", sec, err)
	}

	// Disconnect the OAuth app: gone from the store, and its refresh token
	// revoked at the provider by the revoker.
	browsertest.Run(t, b, "disconnect the OAuth app",
		chromedp.Click(`#app-testprov button.disconnect`, chromedp.ByQuery),
		chromedp.WaitVisible(`#app-testprov[data-state="none"]`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if !strings.Contains(notice, "Disconnected Test Provider.") || connected("testprov") != nil || connected("stripe") == nil {
		t.Fatalf("after disconnect: notice %q, testprov %v, stripe %v", notice, connected("testprov"), connected("stripe"))
	}
	shot("disconnected")
	if n, err := connect.NewRevoker(conns, worker.Options{Owner: "test"}).Drain(ctx); err != nil || n != 1 {
		t.Fatalf("revoker: %d, %v", n, err)
	}
	if r := prov.Revoked(); len(r) != 1 || r[0] != sec.RefreshToken {
		t.Fatalf("revoked at the provider: %v", r)
	}
}
