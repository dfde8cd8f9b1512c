package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
)

// acctConnections is an connect.Service on e's store and keys, to set up
// connections and configs as the API would.
func acctConnections(t *testing.T, e *env) *connect.Service {
	t.Helper()
	cat, err := catalog.LoadFile("")
	if err != nil {
		t.Fatal(err)
	}
	return connect.NewService(e.store, e.accounts, cat, "http://127.0.0.1")
}

// acctFixture makes an account with Stripe and SendGrid connected (with
// keys) and Stripe's "Sync customers" workflow on, by the actors that do
// that in real life: the backend's API key creates the account, the
// customer connects the apps (hosted page, SDK) and switches the workflow.
func acctFixture(t *testing.T, e *env, tn linkd.Tenant, id, name string) *connect.Service {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	key := &linkd.APIKey{ID: linkd.NewID(), OrgID: tn.OrgID, Env: tn.Env, Name: "Backend", Prefix: "tk_fixture", CreatedAt: now}
	if err := e.store.CreateAPIKey(ctx, key, linkd.HashAPIKey("tk_"+key.ID), nil); err != nil {
		t.Fatal(err)
	}
	udf := map[string]json.RawMessage{"plan": json.RawMessage(`"enterprise"`), "seats": json.RawMessage(`250`), "region": json.RawMessage(`"eu"`)}
	if _, err := e.accounts.Create(ctx, tn, "api_key:"+key.ID, linkd.AccountInput{AccountID: id, Name: &name, UDF: udf}); err != nil {
		t.Fatal(err)
	}
	conns := acctConnections(t, e)
	if _, err := conns.SaveKeys(ctx, tn, "connect:"+linkd.NewID(), id, "stripe", map[string]json.RawMessage{"secret_key": json.RawMessage(`"sk_test_123"`)}); err != nil {
		t.Fatal(err)
	}
	session := "session:" + linkd.NewID()
	if _, err := conns.SaveKeys(ctx, tn, session, id, "sendgrid", map[string]json.RawMessage{"api_key": json.RawMessage(`"SG.abc"`), "region": json.RawMessage(`"global"`)}); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, _, err := conns.PutConfig(ctx, tn, session, id, "stripe", "", connect.ConfigInput{Workflows: []connect.WorkflowInput{{ID: "sync-customers", Enabled: &on}}}, false); err != nil {
		t.Fatal(err)
	}
	return conns
}

// TestAccountPageBrowser drives the account page in Chromium: the cards,
// removing a connection through its dialog, a workflow switch, the UDF
// editor with an inline error, and deleting the account.
func TestAccountPageBrowser(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		shots := first && os.Getenv("LINKD_SCREENSHOTS") != ""
		first = false
		const email, password = "ada@example.com", "correct horse battery"
		u := e.user(email, password)
		acctFixture(t, e, e.test, "acme-001", "Acme Corporation")
		b := newBrowser(t, e, 1280, 900, shots)
		ctx := t.Context()

		b.run("sign in", chromedp.Navigate(e.url+"/account/acme-001"), chromedp.WaitVisible("#password", q),
			chromedp.SendKeys("#email", email, q), chromedp.SendKeys("#password", password, q),
			chromedp.Click(`button[type="submit"]`, q), chromedp.WaitVisible(".acct-head", q))
		if p := b.path(); p != "/account/acme-001" {
			t.Fatalf("after sign-in at %s", p)
		}
		if got := b.text(".acct-head h1"); got != "Acme Corporation" {
			t.Fatalf("heading = %q", got)
		}
		// The cards: two apps, one workflow, no API calls, and the last connection change
		// (SendGrid was connected last).
		if got := b.column(".acct-metric-value"); strings.Join(got, ",") != "2,1,0,0" { // apps, workflows, API calls, executions
			t.Fatalf("metric values = %v", got)
		}
		if got := b.text(".acct-metric-activity .acct-metric-event"); got != "Connected SendGrid" {
			t.Fatalf("last connection change = %q", got)
		}
		if got := b.text(".acct-metric-executions .acct-metric-sub"); !strings.Contains(got, "None yet") {
			t.Fatalf("executions card = %q", got)
		}
		if got := b.column(".acct-apps .acct-appname"); strings.Join(got, ",") != "SendGrid,Stripe" {
			t.Fatalf("integrations = %v", got)
		}
		if got := b.column(".acct-apps .acct-badge"); strings.Join(got, ",") != "Active,Active" {
			t.Fatalf("statuses = %v", got)
		}
		var alts []string
		b.run("icons", eval(`Array.from(document.querySelectorAll(".acct-apps img")).map(i => i.getAttribute("alt"))`, &alts))
		for _, a := range alts {
			if a != "" {
				t.Fatalf("an app icon has alt %q; it is decorative", a)
			}
		}
		if got := b.column(".wf-name"); len(got) != 4 {
			t.Fatalf("workflows = %v", got)
		}
		if got := b.column(".acct-udf dt"); strings.Join(got, ",") != "plan,region,seats" {
			t.Fatalf("UDFs = %v", got)
		}
		b.screenshot("account")

		// Remove Stripe with its bin icon: the dialog says what goes; Escape
		// closes it and gives the focus back.
		const bin = `a[aria-label="Remove Stripe connection"]`
		var open bool
		var focusIn, focusName string
		b.run("open remove dialog", chromedp.Click(bin, q), chromedp.WaitVisible("#remove-stripe", q),
			eval(`document.getElementById("remove-stripe").open`, &open),
			eval(`document.activeElement.closest("dialog") ? document.activeElement.closest("dialog").id : ""`, &focusIn))
		if !open || focusIn != "remove-stripe" {
			t.Fatalf("dialog open=%v, focus in %q", open, focusIn)
		}
		want := "Remove the Stripe connection of Acme Corporation?"
		if got := b.text("#remove-stripe-h"); got != want {
			t.Fatalf("dialog question = %q", got)
		}
		if got := b.text("#remove-stripe-d"); !strings.Contains(got, "Its stored credentials are destroyed.") || !strings.Contains(got, "Workflows of Stripe are switched off (1 is active now: Sync customers)") {
			t.Fatalf("dialog text = %q", got)
		}
		b.run("escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible("#remove-stripe", q),
			eval(`document.activeElement.getAttribute("aria-label") || ""`, &focusName))
		if focusName != "Remove Stripe connection" {
			t.Fatalf("after Escape the focus is on %q", focusName)
		}
		b.run("remove", chromedp.Click(bin, q), chromedp.WaitVisible("#remove-stripe", q),
			chromedp.Click(`#remove-stripe button[type="submit"]`, q), chromedp.WaitVisible(".notice", q))
		if got := b.text(".notice"); got != "Removed the Stripe connection of Acme Corporation." {
			t.Fatalf("notice = %q", got)
		}
		if got := b.column(".acct-apps .acct-appname"); strings.Join(got, ",") != "SendGrid" {
			t.Fatalf("integrations after removal = %v", got)
		}
		if got := b.text(".acct-metric-activity .acct-metric-event"); got != "Disconnected Stripe" {
			t.Fatalf("last connection change = %q", got)
		}
		_, conns, err := s.Connections(ctx, e.test, "acme-001")
		if err != nil || len(conns) != 1 || conns[0].Slug != "sendgrid" {
			t.Fatalf("connections after removal: %v, %v", conns, err)
		}
		audit, _, err := s.ListAudit(ctx, e.test, linkd.AuditFilter{AccountID: "acme-001", Limit: 1})
		if err != nil || len(audit) != 1 || audit[0].Action != "connection.delete" || audit[0].Actor != "user:"+u.ID || audit[0].Details["slug"] != "stripe" {
			t.Fatalf("audit after removal: %+v, %v", audit, err)
		}
		if got := b.text(".tl-title"); got != "Disconnected Stripe" {
			t.Fatalf("newest activity = %q", got)
		}
		if got := b.text(".tl-meta"); !strings.HasPrefix(got, "by you") {
			t.Fatalf("activity actor = %q", got)
		}

		// Switch SendGrid's e-mail workflow on: the page updates in place,
		// says so, and keeps the focus on the switch; Space switches it off.
		sw := `#wf-sendgrid-acme_001-send_transactional_email button`
		b.run("toggle on", chromedp.Click(sw, q), chromedp.WaitVisible(sw+`[aria-checked="true"]`, q), chromedp.WaitVisible(".acct-toast:not(:empty)", q))
		if got := b.text(".acct-toast"); got != "Switched on Send transactional e-mail (SendGrid) for Acme Corporation." {
			t.Fatalf("toast = %q", got)
		}
		if got := b.column(".acct-metric-value"); strings.Join(got, ",") != "1,1,0,0" {
			t.Fatalf("metric values after the switch = %v", got)
		}
		b.run("focus kept", eval(`document.activeElement.closest("li") ? document.activeElement.closest("li").id : ""`, &focusIn))
		if focusIn != "wf-sendgrid-acme_001-send_transactional_email" {
			t.Fatalf("focus after the switch on %q", focusIn)
		}
		if got := b.text("#wf-sendgrid-acme_001-send_transactional_email .wf-missing"); !strings.Contains(got, "Dynamic template ID") {
			t.Fatalf("missing field note = %q", got)
		}
		_, cfgs, err := s.Configs(ctx, e.test, "acme-001", "sendgrid")
		if err != nil || len(cfgs) != 1 || cfgs[0].Workflow("send-transactional-email") == nil || !cfgs[0].Workflow("send-transactional-email").Enabled {
			t.Fatalf("config after the switch: %+v, %v", cfgs, err)
		}
		b.run("toggle off by keyboard", chromedp.KeyEvent(" "), chromedp.WaitVisible(sw+`[aria-checked="false"]`, q))
		b.run("toggle on again", chromedp.Click(sw, q), chromedp.WaitVisible(sw+`[aria-checked="true"]`, q))

		// Update UDF: edit one, add one, remove one.
		b.run("udf page", chromedp.Click(`a[href="/account/acme-001/udf"]`, q), chromedp.WaitVisible("#udf_key_3", q))
		if k := b.value("#udf_key_0"); k != "plan" {
			t.Fatalf("first row = %q", k)
		}
		b.run("edit udf", chromedp.SetValue("#udf_value_0", "growth", q),
			chromedp.SendKeys("#udf_key_3", "tier", q), chromedp.SendKeys("#udf_value_3", "gold", q),
			chromedp.Click(`[data-udf-row]:nth-child(2) [data-udf-remove]`, q), chromedp.WaitNotPresent("#udf_key_3", q),
			chromedp.Click(`button[value="save"]:not(.sr-only)`, q), chromedp.WaitVisible(".notice", q))
		if got := b.text(".notice"); got != "Updated the user-defined fields of Acme Corporation: set plan, tier; removed region." {
			t.Fatalf("udf notice = %q", got)
		}
		acct, err := s.FindAccount(ctx, e.test, "acme-001")
		if err != nil {
			t.Fatal(err)
		}
		if len(acct.UDF) != 3 || string(acct.UDFValue("plan")) != `"growth"` || string(acct.UDFValue("tier")) != `"gold"` ||
			string(acct.UDFValue("seats")) != `250` || acct.UDFValue("region") != nil {
			t.Fatalf("UDFs after the update = %+v", acct.UDF)
		}
		// An invalid name is an error next to it, with everything typed kept.
		long := strings.Repeat("k", 70)
		b.run("bad udf", chromedp.Navigate(e.url+"/account/acme-001/udf"), chromedp.WaitVisible("#udf_key_3", q),
			chromedp.SetValue("#udf_value_1", "500", q),
			chromedp.SendKeys("#udf_key_3", long, q), chromedp.SendKeys("#udf_value_3", "x", q),
			chromedp.Click(`button[value="save"]:not(.sr-only)`, q), chromedp.WaitVisible("#udf_key_3_err", q))
		if got := b.text("#udf_key_3_err"); !strings.Contains(got, "The name is 70 bytes long; at most 64 are allowed") {
			t.Fatalf("inline error = %q", got)
		}
		var invalid string
		b.run("aria-invalid", chromedp.AttributeValue("#udf_key_3", "aria-invalid", &invalid, nil, q))
		if invalid != "true" || b.value("#udf_key_3") != long || b.value("#udf_value_3") != "x" || b.value("#udf_value_1") != "500" {
			t.Fatalf("the form lost what was typed (aria-invalid %q)", invalid)
		}
		if acct, _ := s.FindAccount(ctx, e.test, "acme-001"); string(acct.UDFValue("seats")) != `250` {
			t.Fatalf("a refused form changed the account: %+v", acct.UDF)
		}

		// A phone-sized screen: nothing scrolls sideways and the side panel
		// comes after the main column.
		b.run("narrow", chromedp.EmulateViewport(375, 800), chromedp.Navigate(e.url+"/account/acme-001"), chromedp.WaitVisible(".acct-head", q))
		var overflow, stacked bool
		b.run("layout", eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow),
			eval(`document.querySelector(".acct-side").getBoundingClientRect().top >= document.querySelector(".acct-main").getBoundingClientRect().bottom`, &stacked))
		if overflow || !stacked {
			t.Fatalf("at 375 px: overflow %v, side panel below %v", overflow, stacked)
		}
		b.screenshot("account-mobile")
		b.run("wide", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(".acct-head", q))

		// Delete the account through its confirmation.
		b.run("delete dialog", chromedp.Click(`a[data-dialog="delete-dialog"]`, q), chromedp.WaitVisible("#delete-dialog", q))
		if got := b.text("#delete-dialog-h"); got != "Delete Acme Corporation (acme-001)?" {
			t.Fatalf("delete question = %q", got)
		}
		items := b.column("#delete-dialog .consequences li")
		joined := strings.Join(items, " | ")
		for _, want := range []string{"The linked account acme-001, its name and 3 user-defined fields.", "1 connection (SendGrid): their stored credentials are destroyed.",
			"1 config with 1 active workflow (Send transactional e-mail)", "Its session tokens"} {
			if !strings.Contains(joined, want) {
				t.Fatalf("delete dialog lacks %q: %v", want, items)
			}
		}
		b.run("delete", chromedp.Click(`#delete-dialog button[type="submit"]`, q), chromedp.WaitVisible(".notice", q))
		if p := b.path(); p != "/accounts" {
			t.Fatalf("after delete at %s", p)
		}
		if got := b.text(".notice"); got != "Deleted Acme Corporation (acme-001) and everything it owned." {
			t.Fatalf("delete notice = %q", got)
		}
		if _, err := s.FindAccount(ctx, e.test, "acme-001"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("account after delete: %v", err)
		}
	})
}

// TestAccountPageHTTP covers the page without a browser: tenancy (another
// environment or organization gets 404 and changes nothing), cross-site
// POSTs, the confirmation pages that stand in for the dialogs without
// JavaScript, and ids that need escaping.
func TestAccountPageHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		ctx := t.Context()
		e.user("ada@example.com", "correct horse battery")
		acctFixture(t, e, e.test, "acme-001", "Acme Corporation")
		get := func(c *http.Client, path string) *http.Response {
			t.Helper()
			resp, err := c.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		intact := func() {
			t.Helper()
			acct, conns, err := s.Connections(ctx, e.test, "acme-001")
			if err != nil || len(conns) != 2 || acct.ActiveWorkflows != 1 || len(acct.UDF) != 3 {
				t.Fatalf("the account changed: %+v, %d connections, %v", acct, len(conns), err)
			}
		}
		posts := []struct {
			path string
			form url.Values
		}{
			{"/account/acme-001/delete", nil},
			{"/account/acme-001/connections/stripe/remove", nil},
			{"/account/acme-001/workflows", url.Values{"slug": {"stripe"}, "workflow": {"sync-customers"}, "enabled": {"false"}}},
			{"/account/acme-001/udf", url.Values{"udf_orig": {"plan"}, "action": {"save"}}},
			{"/account/acme-001/connect-link", nil},
			{"/account/acme-001/connect-link/revoke", nil},
		}

		// Signed in to the test environment, the page opens.
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		resp := get(c, "/account/acme-001")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Acme Corporation") || !strings.Contains(b, `href="/account/acme-001/connections/stripe/remove"`) {
			t.Fatalf("account page:\n%s", b)
		}

		// A hosted connect link is shown once, not cached, and opens the
		// account's hosted page.
		resp = e.post(c, "/account/acme-001/connect-link", nil, e.url)
		wantStatus(t, resp, http.StatusOK)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("connect link page Cache-Control = %q", cc)
		}
		page := body(t, resp)
		i := strings.Index(page, "/connect/ct_")
		if i < 0 {
			t.Fatalf("no connect link on the page:\n%s", page)
		}
		link := page[i : i+strings.IndexByte(page[i:], '"')]
		hosted := get(c, link)
		wantStatus(t, hosted, http.StatusOK)
		if b := body(t, hosted); !strings.Contains(b, "Stripe") {
			t.Fatalf("the hosted page of the link does not list the account's apps:\n%s", b)
		}
		// Revoking the account's links ends it.
		resp = e.post(c, "/account/acme-001/connect-link/revoke", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		body(t, resp)
		resp = get(c, "/account/acme-001")
		if b := body(t, resp); !strings.Contains(b, "Revoked 1 hosted connect link") {
			t.Fatalf("no notice after revoking links:\n%s", b)
		}
		gone := get(c, link)
		wantStatus(t, gone, http.StatusNotFound)
		body(t, gone)

		// Cross-site POSTs are refused before they reach a handler.
		for _, p := range posts {
			resp := e.post(c, p.path, p.form, "https://evil.example")
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
			req, _ := http.NewRequest("POST", e.url+p.path, strings.NewReader(p.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
		}
		intact()

		// The production environment of the same organization has no such
		// account: every page and action is a 404.
		prod := e.client()
		wantStatus(t, e.login(prod, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		wantStatus(t, e.post(prod, "/env", url.Values{"env": {"production"}}, e.url), http.StatusSeeOther)
		// Another organization's user neither.
		other := &linkd.Org{ID: linkd.NewID(), Name: "Other Org", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateOrg(ctx, other); err != nil {
			t.Fatal(err)
		}
		eve := &linkd.User{ID: linkd.NewID(), OrgID: other.ID, Email: "eve@example.com", CreatedAt: other.CreatedAt}
		if err := s.CreateUser(ctx, eve, linkd.HashPassword("eve's long password"), nil); err != nil {
			t.Fatal(err)
		}
		outsider := e.client()
		wantStatus(t, e.login(outsider, "eve@example.com", "eve's long password"), http.StatusSeeOther)
		for name, cl := range map[string]*http.Client{"production": prod, "other org": outsider} {
			for _, p := range []string{"/account/acme-001", "/account/acme-001/delete", "/account/acme-001/udf", "/account/acme-001/connections/stripe/remove"} {
				resp := get(cl, p)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("%s: GET %s = %d, want 404", name, p, resp.StatusCode)
				}
				body(t, resp)
			}
			for _, p := range posts {
				resp := e.post(cl, p.path, p.form, e.url)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("%s: POST %s = %d, want 404\n%s", name, p.path, resp.StatusCode, body(t, resp))
				}
				body(t, resp)
			}
		}
		intact()

		// Without JavaScript: the bin and "Delete Account" lead to
		// confirmation pages whose forms post.
		resp = get(c, "/account/acme-001/connections/stripe/remove")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Remove the Stripe connection of Acme Corporation?") || !strings.Contains(b, `action="/account/acme-001/connections/stripe/remove"`) {
			t.Fatalf("remove confirmation:\n%s", b)
		}
		resp = get(c, "/account/acme-001/connections/slack/remove")
		wantStatus(t, resp, http.StatusNotFound)
		body(t, resp)
		resp = e.post(c, "/account/acme-001/connections/stripe/remove", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/account/acme-001" {
			t.Fatalf("after removal: redirect to %q", loc)
		}
		resp = get(c, "/account/acme-001")
		if b := body(t, resp); !strings.Contains(b, "Removed the Stripe connection of Acme Corporation.") {
			t.Fatalf("no notice after removal:\n%s", b)
		}
		// Switching a workflow of an app that is not connected is refused,
		// and said so on the page.
		resp = e.post(c, "/account/acme-001/workflows", url.Values{"slug": {"stripe"}, "workflow": {"sync-customers"}, "enabled": {"true"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		resp = get(c, "/account/acme-001")
		if b := body(t, resp); !strings.Contains(b, "Sync customers could not be switched on") || !strings.Contains(b, "not authenticated") {
			t.Fatalf("no alert after a refused switch:\n%s", b)
		}
		// The UDF editor's "Add field" and "Remove" round trips.
		resp = e.post(c, "/account/acme-001/udf", url.Values{"udf_orig": {"plan", "region", "seats"}, "udf_key": {"plan", "region", "seats"}, "udf_value": {"pro", "eu", "250"}, "action": {"add_udf"}}, e.url)
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, `id="udf_key_3"`) || !strings.Contains(b, `value="pro"`) {
			t.Fatalf("add field without JS:\n%s", b)
		}
		resp = e.post(c, "/account/acme-001/udf", url.Values{"udf_orig": {"plan", "region", "seats"}, "udf_key": {"plan", "region", "seats"}, "udf_value": {"pro", "eu", "250"}, "action": {"remove_udf:1"}}, e.url)
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); strings.Contains(b, `name="udf_key" value="region"`) || !strings.Contains(b, `name="udf_key" value="seats"`) || !strings.Contains(b, `name="udf_orig" value="region"`) {
			t.Fatalf("remove field without JS:\n%s", b)
		}
		resp = e.post(c, "/account/acme-001/udf", url.Values{"udf_orig": {"plan", "region", "seats"}, "udf_key": {"plan", "seats", "plan"}, "udf_value": {"pro", "250", "x"}, "action": {"save"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "already on row 1") {
			t.Fatalf("duplicate UDF name:\n%s", b)
		}
		resp = get(c, "/account/acme-001/delete")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Delete Acme Corporation (acme-001)?") || !strings.Contains(b, "1 connection (SendGrid)") {
			t.Fatalf("delete confirmation:\n%s", b)
		}
		resp = e.post(c, "/account/acme-001/delete", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/accounts" {
			t.Fatalf("after delete: redirect to %q", loc)
		}
		if _, err := s.FindAccount(ctx, e.test, "acme-001"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("account after delete: %v", err)
		}
		resp = get(c, "/account/acme-001")
		wantStatus(t, resp, http.StatusNotFound)
		body(t, resp)

		// An id with a slash, a space and a question mark is escaped in
		// every link and still found.
		odd := "team a/b?c"
		e.account(e.test, odd, "Odd", nil)
		esc := "/account/" + url.PathEscape(odd)
		resp = get(c, esc)
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, `href="`+esc+`/udf"`) || !strings.Contains(b, `action="`+esc+`/delete"`) {
			t.Fatalf("escaped links missing (%s):\n%s", esc, b)
		}
		resp = e.post(c, esc+"/delete", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if _, err := s.FindAccount(ctx, e.test, odd); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("%q after delete: %v", odd, err)
		}
		// Ids that are words of the list's own routes open their account:
		// account pages live under /account/, the list's actions under
		// /accounts/.
		for _, id := range []string{"new", "bulk", "import", "sample.csv"} {
			e.account(e.test, id, "Named "+id, nil)
			resp = get(c, "/account/"+id)
			wantStatus(t, resp, http.StatusOK)
			if b := body(t, resp); !strings.Contains(b, "Named "+id) {
				t.Fatalf("/account/%s does not show the account", id)
			}
		}
	})
}
