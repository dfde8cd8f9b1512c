package dashboard_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestExecutionsBrowser: the backend fires an event through the API, the
// workflow runs against the app on loopback, and in Chromium the run is
// listed, its page shows its steps with their input and output, and Rerun
// and Stop work through their dialogs.
func TestExecutionsBrowser(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		b := newBrowser(t, e, 1280, 900, first && os.Getenv("LINKD_SCREENSHOTS") != "")
		first = false
		ctx := t.Context()
		const email, password = "ada@example.com", "correct horse battery"
		e.user(email, password)
		e.keyappRuns(e.test, "acme-001")
		secret, hash := linkd.NewAPIKeySecret(linkd.EnvTest)
		key := &linkd.APIKey{ID: linkd.NewID(), OrgID: e.org.ID, Env: linkd.EnvTest, Name: "backend", Prefix: linkd.APIKeyPrefix(secret), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateAPIKey(ctx, key, hash, nil); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/api/v2/public/event", strings.NewReader(`{"event":"Order Placed","payload":{"order_id":"o-42"}}`))
		req.Header.Set("x-api-key", secret)
		req.Header.Set("linked_account_id", "acme-001")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(got, "Webhook Fired Success") {
			t.Fatalf("trigger: %d %s", resp.StatusCode, got)
		}
		e.drainRuns()

		b.run("sign in", chromedp.Navigate(e.url+"/executions"), chromedp.WaitVisible("#password", q),
			chromedp.SendKeys("#email", email, q), chromedp.SendKeys("#password", password, q),
			chromedp.Click(`button[type="submit"]`, q), chromedp.WaitVisible(".exec-table", q))
		if got := b.column(".exec-row .exec-status"); len(got) != 2 || !strings.Contains(strings.Join(got, ","), "Completed") || !strings.Contains(strings.Join(got, ","), "Errored") {
			t.Fatalf("list statuses = %v", got)
		}
		b.screenshot("executions")

		b.run("open the run", chromedp.Click(`//a[contains(@class,"exec-link")][text()="Record the order"]`, chromedp.BySearch),
			chromedp.WaitVisible("#step-1", q))
		if got := b.column(".exec-step-status"); strings.Join(got, ",") != "Succeeded,Succeeded" {
			t.Fatalf("step statuses = %v", got)
		}
		if got := b.column(".exec-step-id"); strings.Join(got, ",") != "post,result" {
			t.Fatalf("steps = %v", got)
		}
		b.run("open input", chromedp.Click("#step-0 .exec-io summary", q), chromedp.WaitVisible("#step-0 .exec-input", q))
		if got := b.text("#step-0 .exec-input"); !strings.Contains(got, "/orders") || !strings.Contains(got, "o-42") || strings.Contains(got, "k-1") {
			t.Fatalf("input = %q", got)
		}
		if got := b.text(".exec-return"); !strings.Contains(got, `"ok": true`) {
			t.Fatalf("return value = %q", got)
		}
		b.screenshot("execution")

		// Rerun through its dialog: the new run's page, queued.
		b.run("rerun", chromedp.Click("#exec-rerun", q), chromedp.WaitVisible("#rerun-dialog", q),
			chromedp.Click(`#rerun-dialog button[type="submit"]`, q), waitText(".notice", "Rerun queued"))
		if got := b.text("#exec-status"); got != "Running" {
			t.Fatalf("rerun's status = %q", got)
		}
		// Stop it through its dialog before it runs.
		b.run("stop", chromedp.Click("#exec-stop", q), chromedp.WaitVisible("#stop-dialog", q),
			chromedp.Click(`#stop-dialog button[type="submit"]`, q), waitText(".notice", "Run stopped."))
		if got := b.text("#exec-status"); got != "Stopped" {
			t.Fatalf("status after stop = %q", got)
		}

		// The account's card and tab.
		b.run("account", chromedp.Navigate(e.url+"/account/acme-001"), chromedp.WaitVisible(".acct-metric-executions", q))
		if got := b.text(".acct-metric-executions .acct-metric-value"); got != "3" {
			t.Fatalf("executions card = %q", got)
		}
		if got := b.text(".acct-metric-executions .acct-metric-sub"); !strings.Contains(got, "(Stopped)") || !strings.Contains(got, "33.3 % errors") {
			t.Fatalf("executions card = %q", got)
		}
		b.run("tab", chromedp.Click(`.acct-tabs a[href="/account/acme-001/executions"]`, q), waitURL("/account/acme-001/executions"),
			chromedp.WaitVisible(".exec-table", q))
		if got := b.column(".exec-row .exec-status"); len(got) != 3 {
			t.Fatalf("account tab = %v", got)
		}
	})
}
