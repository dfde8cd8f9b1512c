package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/browsertest"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
)

// q is the selector option every step uses: CSS selectors.
var q = chromedp.ByQuery

// browser drives one tab against an env.
type browser struct {
	t   *testing.T
	e   *env
	ctx context.Context
	run func(step string, actions ...chromedp.Action)
	// shots names screenshots (only one engine takes them).
	shots bool
}

func newBrowser(t *testing.T, e *env, w, h int, shots bool) *browser {
	ctx := browsertest.New(t, w, h)
	return &browser{t: t, e: e, ctx: ctx, shots: shots, run: func(step string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Run(t, ctx, step, actions...)
	}}
}

// eval runs JavaScript (awaiting a promise) and decodes its result.
func eval(expr string, out any) chromedp.Action {
	return chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, q, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

func (b *browser) value(sel string) string {
	b.t.Helper()
	var s string
	b.run("value of "+sel, chromedp.Value(sel, &s, q))
	return s
}

func (b *browser) path() string {
	b.t.Helper()
	var loc string
	b.run("location", chromedp.Location(&loc))
	return strings.TrimPrefix(loc, b.e.url)
}

// rows returns the first cell texts of a table's body rows.
func (b *browser) column(sel string) []string {
	b.t.Helper()
	var out []string
	b.run("rows of "+sel, eval(`Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(e => e.textContent.trim())`, &out))
	return out
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	if b.shots {
		var ignored any
		b.run("scroll up", eval(`window.scrollTo(0, 0)`, &ignored))
		browsertest.Screenshot(b.t, b.ctx, filepath.Join("..", "docs", "screenshots", name+".png"))
	}
}

// until polls a JavaScript condition from Go until it holds. Evaluating
// from Go, rather than awaiting a promise in the page, survives the page
// navigating in between (clicking a link or a submit button returns before
// the next page is there).
func until(cond string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var ok bool
			if err := chromedp.Evaluate(cond, &ok).Do(ctx); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", cond, ctx.Err())
			case <-time.After(25 * time.Millisecond):
			}
		}
	})
}

// waitURL waits until the page's URL contains s and the page has loaded.
func waitURL(s string) chromedp.Action {
	return until(`location.href.includes(` + jsString(s) + `) && document.readyState === "complete"`)
}

// waitText waits until the element's text contains s.
func waitText(sel, s string) chromedp.Action {
	return until(`(document.querySelector(` + jsString(sel) + `)?.textContent ?? "").includes(` + jsString(s) + `)`)
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestBrowser runs the dashboard's main flows in Chromium on each engine.
func TestBrowser(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		b := newBrowser(t, e, 1280, 860, first && os.Getenv("LINKD_SCREENSHOTS") != "")
		first = false
		const email, password = "ada@example.com", "correct horse battery"

		// Setup with the one-time code.
		b.run("open", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible("#code", q))
		if p := b.path(); !strings.HasPrefix(p, "/setup") {
			t.Fatalf("a fresh install opens %s, want /setup", p)
		}
		b.screenshot("setup")
		b.run("setup", chromedp.SendKeys("#code", e.setupCode, q), chromedp.SendKeys("#email", email, q),
			chromedp.SendKeys("#password", password, q), chromedp.SendKeys("#password2", password, q),
			chromedp.Click(`button[type="submit"]`, q), chromedp.WaitVisible(".empty", q))
		if got := b.text(".empty h2"); got != "No linked accounts yet" {
			t.Fatalf("empty state = %q", got)
		}
		if got := b.text(".org"); got != "Acme Inc." {
			t.Fatalf("org name = %q", got)
		}
		b.screenshot("accounts-empty")

		// Logout, then a wrong password, then the right one.
		b.run("logout", chromedp.Click(".logout button", q), chromedp.WaitVisible("#password", q))
		b.run("wrong password", chromedp.SendKeys("#email", email, q), chromedp.SendKeys("#password", "not it at all", q),
			chromedp.Click(`button[type="submit"]`, q), chromedp.WaitVisible(".alert", q))
		if got := b.text(".alert"); !strings.Contains(got, "do not match") {
			t.Fatalf("wrong password says %q", got)
		}
		if got := b.value("#email"); got != email {
			t.Fatalf("email after a failed sign-in = %q", got)
		}
		b.screenshot("login")
		b.run("login", chromedp.SendKeys("#password", password, q), chromedp.Click(`button[type="submit"]`, q),
			chromedp.WaitVisible(".empty", q))

		// Create a single account with two UDFs (the second row added by
		// the editor's script).
		b.run("add account", chromedp.Click(`a[href="/accounts/new"]`, q), chromedp.WaitVisible("#linked_account_id", q),
			chromedp.SendKeys("#linked_account_id", "acme-001", q), chromedp.SendKeys("#name", "Acme Corporation", q),
			chromedp.SendKeys("#udf_key_0", "plan", q), chromedp.SendKeys("#udf_value_0", "enterprise", q),
			chromedp.Click("[data-udf-add]", q), chromedp.WaitVisible("#udf_key_1", q),
			chromedp.SendKeys("#udf_key_1", "seats", q), chromedp.SendKeys("#udf_value_1", "250", q),
			chromedp.Click("[data-udf-add]", q), chromedp.WaitVisible("#udf_key_2", q),
			chromedp.SendKeys("#udf_key_2", "region", q))
		b.screenshot("account-new")
		// The third row is removed again before submitting.
		b.run("remove row", chromedp.Click(`[data-udf-row]:nth-child(3) [data-udf-remove]`, q), chromedp.WaitNotPresent("#udf_key_2", q))
		b.run("create", chromedp.Click(`button.btn-primary[value="create"]`, q), chromedp.WaitVisible(".notice", q))
		if p := b.path(); p != "/account/acme-001" {
			t.Fatalf("after create at %s", p)
		}
		acct, err := s.FindAccount(t.Context(), e.test, "acme-001")
		if err != nil {
			t.Fatal(err)
		}
		if acct.Name != "Acme Corporation" || len(acct.UDF) != 2 || string(acct.UDFValue("plan")) != `"enterprise"` || string(acct.UDFValue("seats")) != `250` {
			t.Fatalf("created account = %+v (udf %s / %s)", acct, acct.UDFValue("plan"), acct.UDFValue("seats"))
		}

		// Inline validation: a duplicate id and a bad UDF name keep what
		// was typed and say what is wrong next to the field.
		b.run("duplicate", chromedp.Navigate(e.url+"/accounts/new"), chromedp.WaitVisible("#linked_account_id", q),
			chromedp.SendKeys("#linked_account_id", "acme-001", q), chromedp.SendKeys("#name", "Second Acme", q),
			// Enter in a UDF value submits the form as "Create account", not
			// as the row's Remove button.
			chromedp.SendKeys("#udf_key_0", "tier", q), chromedp.SendKeys("#udf_value_0", "gold\r", q),
			chromedp.WaitVisible("#id_err", q))
		if got := b.text("#id_err"); !strings.Contains(got, "already exists") {
			t.Fatalf("duplicate id error = %q", got)
		}
		if id, name, k, v := b.value("#linked_account_id"), b.value("#name"), b.value("#udf_key_0"), b.value("#udf_value_0"); id != "acme-001" || name != "Second Acme" || k != "tier" || v != "gold" {
			t.Fatalf("the form lost what was typed: %q %q %q %q", id, name, k, v)
		}
		var invalid string
		b.run("aria-invalid", chromedp.AttributeValue("#linked_account_id", "aria-invalid", &invalid, nil, q))
		if invalid != "true" {
			t.Fatalf("aria-invalid = %q", invalid)
		}
		b.screenshot("account-new-errors")
		var ignored any
		b.run("empty id", eval(`document.querySelector("#linked_account_id").value = ""`, &ignored), chromedp.Click(`button.btn-primary[value="create"]`, q),
			waitText("#id_err", "required"))
		if got := b.text("#id_err"); !strings.Contains(got, "required") {
			t.Fatalf("empty id error = %q", got)
		}
		if got := b.value("#name"); got != "Second Acme" {
			t.Fatalf("name after error = %q", got)
		}

		// The sample CSV downloads as the API serves it.
		var sample string
		b.run("sample", chromedp.Navigate(e.url+"/accounts/new?tab=multiple"), chromedp.WaitVisible(`a[href="/accounts/sample.csv"]`, q),
			eval(`fetch(document.querySelector('a[href="/accounts/sample.csv"]').href).then(r => r.text())`, &sample))
		if sample != csvio.Sample {
			t.Fatalf("sample CSV = %q", sample)
		}
		b.screenshot("account-import")

		// Import a file with good and bad rows and watch it to the end.
		csvPath := filepath.Join(t.TempDir(), "customers.csv")
		var rows strings.Builder
		rows.WriteString("linked_account_id,name,udf.plan\n")
		for i := range 8 {
			fmt.Fprintf(&rows, "imp-%02d,Imported %d,pro\n", i, i)
		}
		rows.WriteString(",No id,pro\n")                                  // row 10: empty id
		rows.WriteString("acme-001,Acme again,pro\n")                     // row 11: exists (create mode)
		rows.WriteString(" padded ,Bad id,pro\n")                         // row 12: white space
		rows.WriteString("imp-08," + strings.Repeat("n", 300) + ",pro\n") // row 13: name too long
		if err := os.WriteFile(csvPath, []byte(rows.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		b.run("upload", chromedp.SetUploadFiles("#file", []string{csvPath}, q), chromedp.Click(`#panel-multiple button[type="submit"]`, q),
			chromedp.WaitVisible("#confirm-import", q))
		b.run("confirm columns", chromedp.Click("#confirm-import", q), chromedp.WaitVisible("progress", q))
		if p := b.path(); !strings.HasPrefix(p, "/imports/") {
			t.Fatalf("after upload at %s", p)
		}
		b.run("import finishes", chromedp.WaitVisible(".status-succeeded", q), chromedp.WaitVisible("#row-errors", q))
		if c, f := b.text(`[data-k="created"]`), b.text(`[data-k="failed"]`); c != "8" || f != "4" {
			t.Fatalf("created %s, failed %s; want 8 and 4", c, f)
		}
		errRows := b.column("#row-errors tbody td:first-child")
		if strings.Join(errRows, ",") != "10,11,12,13" {
			t.Fatalf("error rows = %v", errRows)
		}
		if msgs := b.column("#row-errors tbody td:last-child"); !strings.Contains(msgs[1], "exists") {
			t.Fatalf("error messages = %v", msgs)
		}
		var errCSV string
		b.run("errors csv", eval(`fetch(document.querySelector('a[href$="errors.csv"]').href).then(r => r.text())`, &errCSV))
		if !strings.HasPrefix(errCSV, "row,column,linked_account_id,message\n10,") || strings.Count(errCSV, "\n") != 5 {
			t.Fatalf("errors.csv = %q", errCSV)
		}
		b.screenshot("import-done")
		for i := range 8 {
			if _, err := s.FindAccount(t.Context(), e.test, fmt.Sprintf("imp-%02d", i)); err != nil {
				t.Fatalf("imported account %d: %v", i, err)
			}
		}

		// More accounts to page through and search.
		for i := range 40 {
			e.account(e.test, fmt.Sprintf("cust-%03d", i), fmt.Sprintf("Customer %03d", i), map[string]string{"plan": `"basic"`})
		}
		// 1 + 8 + 40 accounts: newest first, 25 a page.
		b.run("list", chromedp.Navigate(e.url+"/accounts"), chromedp.WaitVisible("table", q))
		if got := b.text("#total"); got != "49 accounts" {
			t.Fatalf("total = %q", got)
		}
		// (Ids order creation only to the millisecond, so accounts made in
		// the same millisecond may come in either order: the checks below
		// look at sets, not positions, within one test run.)
		page1 := b.column(".account-id")
		if len(page1) != 25 || !strings.HasPrefix(page1[0], "cust-03") {
			t.Fatalf("page 1 = %v", page1)
		}
		b.screenshot("accounts")
		b.run("next", chromedp.Click(`a[rel="next"]`, q), waitURL("after="), chromedp.WaitVisible(`a[rel="prev"]`, q))
		page2 := b.column(".account-id")
		seen := map[string]bool{}
		for _, id := range append(append([]string{}, page1...), page2...) {
			seen[id] = true
		}
		if len(page2) != 24 || len(seen) != 49 || page2[len(page2)-1] != "acme-001" {
			t.Fatalf("page 2 = %v (%d distinct accounts over both pages)", page2, len(seen))
		}
		var nextDisabled string
		b.run("no next", chromedp.AttributeValue(`.pager span:last-child`, "aria-disabled", &nextDisabled, nil, q))
		if nextDisabled != "true" {
			t.Fatalf("the last page offers a next page (aria-disabled=%q)", nextDisabled)
		}
		b.run("prev", chromedp.Click(`a[rel="prev"]`, q), waitURL("before="), chromedp.WaitVisible(`a[rel="next"]`, q))
		if back := b.column(".account-id"); strings.Join(back, ",") != strings.Join(page1, ",") {
			t.Fatalf("previous page = %v, want %v", back, page1)
		}

		// Search by name and id; the filter is in the URL.
		b.run("search", chromedp.SendKeys("#q", "Customer 01", q), chromedp.Click(`.filters button[type="submit"]`, q),
			waitURL("q=Customer+01"), chromedp.WaitVisible("table", q))
		if got := b.column(".account-id"); len(got) != 10 || !strings.HasPrefix(strings.Join(got, ","), "cust-01") {
			t.Fatalf("search result = %v", got)
		}
		for _, id := range b.column(".account-id") {
			if !strings.HasPrefix(id, "cust-01") {
				t.Fatalf("search for Customer 01 shows %s", id)
			}
		}
		if p := b.path(); !strings.Contains(p, "q=Customer+01") {
			t.Fatalf("search URL = %s", p)
		}
		// A search is not counted (a count reads every match).
		if got := b.text("#total") + " / " + b.text(".pager-info"); got != "Accounts matching the filter / Showing 10" {
			t.Fatalf("search header and pager = %q", got)
		}
		b.run("search id", chromedp.Navigate(e.url+"/accounts?q=imp-0"), chromedp.WaitVisible("table", q))
		if got := b.column(".account-id"); len(got) != 8 {
			t.Fatalf("id search = %v", got)
		}
		// A date range that ends before today matches nothing.
		b.run("dates", chromedp.Navigate(e.url+"/accounts?to=2001-01-01"), chromedp.WaitVisible(".empty", q))
		if got := b.text(".empty h2"); got != "No linked accounts match" {
			t.Fatalf("old date range: %q", got)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		b.run("today", chromedp.Navigate(e.url+"/accounts?from="+today+"&to="+today+"&q=cust-00"), chromedp.WaitVisible("table", q))
		if got := b.column(".account-id"); len(got) != 10 {
			t.Fatalf("today's cust-00*: %v", got)
		}
		// The app filter lists the catalog and passes the slug through.
		b.run("app filter", chromedp.Navigate(e.url+"/accounts"), chromedp.WaitVisible("#app", q),
			chromedp.SetValue("#app", "slack", q), chromedp.Click(`.filters button[type="submit"]`, q), waitURL("app=slack"), chromedp.WaitVisible(".empty", q))
		if p := b.path(); !strings.Contains(p, "app=slack") {
			t.Fatalf("app filter URL = %s", p)
		}

		// Bulk export of two selected rows.
		b.run("select", chromedp.Navigate(e.url+"/accounts?q=imp-0"), chromedp.WaitVisible("table", q),
			chromedp.Click(`input[value="imp-00"]`, q), chromedp.Click(`input[value="imp-01"]`, q), chromedp.WaitVisible(`button[value="export"]`, q))
		if got := b.text("[data-selected-count]"); got != "2 selected" {
			t.Fatalf("selection count = %q", got)
		}
		b.screenshot("accounts-selected")
		var export string
		b.run("export", eval(`(() => { const f = document.querySelector('[data-bulk]'); const fd = new FormData(f, f.querySelector('button[value="export"]'));
			return fetch(f.getAttribute('action'), {method: 'POST', body: new URLSearchParams(fd)}).then(r => r.text()) })()`, &export))
		if export != "linked_account_id,name,udf.plan\nimp-01,Imported 1,pro\nimp-00,Imported 0,pro\n" &&
			export != "linked_account_id,name,udf.plan\nimp-00,Imported 0,pro\nimp-01,Imported 1,pro\n" {
			t.Fatalf("export = %q", export)
		}
		// Export of everything matching the filter.
		b.run("export all", chromedp.Click("[data-select-matching]", q), eval(`(() => { const f = document.querySelector('[data-bulk]'); const fd = new FormData(f, f.querySelector('button[value="export"]'));
			return fetch(f.getAttribute('action'), {method: 'POST', body: new URLSearchParams(fd)}).then(r => r.text()) })()`, &export))
		if strings.Count(export, "\n") != 9 || !strings.Contains(export, "imp-07,Imported 7,pro") {
			t.Fatalf("export of the filter = %q", export)
		}

		// Bulk delete all matching "cust-0": the confirmation states the
		// count; the job deletes them in the background.
		b.run("bulk delete", chromedp.Navigate(e.url+"/accounts?q=cust-0"), chromedp.WaitVisible("table", q),
			chromedp.Click("[data-select-matching]", q), chromedp.Click(`button[value="delete"]`, q), chromedp.WaitVisible("#confirm-h", q))
		if got := b.text("#confirm-h"); got != "Delete 40 linked accounts?" {
			t.Fatalf("confirmation = %q", got)
		}
		b.screenshot("bulk-delete-confirm")
		b.run("confirm", chromedp.Click(".confirm .btn-danger", q), chromedp.WaitVisible(".status-succeeded", q))
		if got := b.text("#bulk-done"); got != "40" {
			t.Fatalf("deleted = %q", got)
		}
		page, err := s.ListAccounts(t.Context(), e.test, linkd.AccountFilter{Query: "cust-", Limit: 100})
		if err != nil || len(page.Accounts) != 0 {
			t.Fatalf("after bulk delete: %d accounts left (%v)", len(page.Accounts), err)
		}
		// Selected rows: two of the imported ones.
		b.run("bulk delete selected", chromedp.Navigate(e.url+"/accounts?q=imp-"), chromedp.WaitVisible("table", q),
			chromedp.Click(`input[value="imp-03"]`, q), chromedp.Click(`input[value="imp-04"]`, q),
			chromedp.Click(`button[value="delete"]`, q), chromedp.WaitVisible("#confirm-h", q))
		if got := b.text("#confirm-h"); got != "Delete 2 linked accounts?" {
			t.Fatalf("confirmation = %q", got)
		}
		b.run("confirm selected", chromedp.Click(".confirm .btn-danger", q), chromedp.WaitVisible(".status-succeeded", q))
		for _, id := range []string{"imp-03", "imp-04"} {
			if _, err := s.FindAccount(t.Context(), e.test, id); linkd.ErrorCode(err) != linkd.ENOTFOUND {
				t.Fatalf("%s after bulk delete: %v", id, err)
			}
		}
		if _, err := s.FindAccount(t.Context(), e.test, "imp-05"); err != nil {
			t.Fatalf("an unselected account went: %v", err)
		}
		// Each deletion is audited under the user.
		entries, _, err := s.ListAudit(t.Context(), e.test, linkd.AuditFilter{AccountID: "imp-03"})
		if err != nil || len(entries) == 0 || entries[0].Action != linkd.AuditAccountDelete || !strings.HasPrefix(entries[0].Actor, "user:") {
			t.Fatalf("audit of imp-03: %+v, %v", entries, err)
		}

		// The environment switch: production is empty.
		b.run("production", chromedp.Navigate(e.url+"/accounts"), chromedp.WaitVisible(".envswitch", q),
			chromedp.Click(`.envswitch button[value="production"]`, q), chromedp.WaitVisible(".envbar", q), chromedp.WaitVisible(".empty", q))
		b.run("back to test", chromedp.Click(`.envswitch button[value="test"]`, q), chromedp.WaitVisible("table", q))

		// A phone-sized screen.
		b.run("narrow", chromedp.EmulateViewport(375, 800), chromedp.Navigate(e.url+"/accounts"), chromedp.WaitVisible("table", q))
		var overflow bool
		b.run("overflow", eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
		if overflow {
			t.Fatal("the list scrolls sideways at 375 px")
		}
		b.screenshot("accounts-mobile")
	})
}
