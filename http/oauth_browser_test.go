package http_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/browsertest"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestOAuthMessageOnlyToStartingOrigin runs the OAuth popup in Chromium:
// the callback page tells the page that opened it that the app is
// connected, but only when that page is on the origin that asked for the
// consent URL. A page on another origin that got hold of the URL and
// opened it learns nothing.
func TestOAuthMessageOnlyToStartingOrigin(t *testing.T) {
	if browsertest.Path() == "" {
		browsertest.New(t, 800, 600) // skips, or fails in CI
	}
	f := newOAuthFixture(t, dbtest.SQLite(t))
	f.setUpOAuth()
	bearer := f.bearerFor("a", "cust")
	// Two web apps on loopback, each its own origin, each recording the
	// messages it receives.
	app := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><title>app</title><script>
window.got = [];
addEventListener("message", function (e) { window.got.push({origin: e.origin, data: e.data}); });
// open opens url in a popup and resolves once the popup has closed
// itself (the callback page closes 800 ms after posting its message).
window.openAndWait = function (url) {
  return new Promise(function (resolve, reject) {
    var w = window.open(url);
    if (!w) { reject("popup blocked"); return; }
    var started = Date.now();
    var timer = setInterval(function () {
      if (w.closed) { clearInterval(timer); resolve(JSON.stringify(window.got)); }
      else if (Date.now() - started > 15000) { clearInterval(timer); reject("popup still open: " + JSON.stringify(window.got)); }
    }, 50);
  });
};
</script>`))
		}))
		t.Cleanup(s.Close)
		return s
	}
	starting, other := app(), app()
	consent := func() string {
		t.Helper()
		res := f.do("GET", "/api/v1/testprov/integrate", bearer, nil, "Origin", starting.URL)
		u, _ := res.json["auth_url"].(string)
		if res.status != 200 || u == "" {
			t.Fatalf("integrate: %d %s", res.status, res.raw)
		}
		return u
	}
	await := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	ctx := browsertest.New(t, 800, 600)

	// The other origin opens the starting origin's consent URL: the
	// connection is made (linkd cannot tell who opened the popup), but the
	// other page hears nothing of it.
	var got string
	browsertest.Run(t, ctx, "open the consent URL from another origin",
		chromedp.Navigate(other.URL),
		chromedp.Evaluate(`openAndWait(`+jsString(consent())+`)`, &got, await),
	)
	if !f.connected() {
		t.Fatal("the flow opened from the other origin did not complete")
	}
	if got != "[]" {
		t.Fatalf("a page on another origin received the callback's message: %s", got)
	}

	// The starting origin opens its own: it is told.
	if _, err := f.connections.Disconnect(t.Context(), linkd.Tenant{OrgID: orgOf(t, f, "a"), Env: linkd.EnvTest}, "test", "cust", "testprov", ""); err != nil {
		t.Fatal(err)
	}
	browsertest.Run(t, ctx, "open the consent URL from the starting origin",
		chromedp.Navigate(starting.URL),
		chromedp.Evaluate(`openAndWait(`+jsString(consent())+`)`, &got, await),
	)
	want := `[{"origin":` + jsString(f.url) + `,"data":{"linkd":"connected","slug":"testprov"}}]`
	if got != want || !f.connected() {
		t.Fatalf("the starting origin received %s, want %s (connected: %v)", got, want, f.connected())
	}
}
