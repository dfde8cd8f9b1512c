package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestSignInRedirectBrowser: /login?next=/%09/evil.example stays on linkd
// after signing in, in Chromium (which drops the TAB and, before the fix,
// went to evil.example).
func TestSignInRedirectBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		e.user("ada@example.com", "ada's long password")
		for _, next := range []string{"/%09/evil.example", "/%5C/evil.example", "/%0D%0A/evil.example", "%2F%2Fevil.example"} {
			b := newBrowser(t, e, 1000, 800, false)
			login := e.url + "/login?next=" + next
			b.run("sign in with next="+next, chromedp.Navigate(login), chromedp.WaitVisible("#email", q),
				chromedp.SendKeys("#email", "ada@example.com", q), chromedp.SendKeys("#password", "ada's long password", q),
				chromedp.Click(`button[type="submit"]`, q),
				until(`location.href !== `+jsString(login)+` && document.readyState === "complete"`))
			var loc string
			b.run("location", chromedp.Location(&loc))
			if !strings.HasPrefix(loc, e.url+"/") {
				t.Fatalf("next=%s: signed in and landed on %s, not on linkd", next, loc)
			}
		}
	})
}
