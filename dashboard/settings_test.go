package dashboard_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// apiStatus calls GET /api/v2/public/linked-account with key through the
// same server and returns the status.
func (e *env) apiStatus(key string) int {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/api/v2/public/linked-account", nil)
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	body(e.t, resp)
	return resp.StatusCode
}

// signIn signs the browser in through the form.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.run("sign in", chromedp.Navigate(b.e.url+"/login"), chromedp.WaitVisible("#email", q),
		chromedp.SendKeys("#email", email, q), chromedp.SendKeys("#password", password, q),
		chromedp.Click(`button[type="submit"]`, q), chromedp.WaitVisible(".topbar", q))
}

// html is the whole current page.
func (b *browser) html() string {
	b.t.Helper()
	var s string
	b.run("page html", chromedp.OuterHTML("html", &s, q))
	return s
}

// noOverflow fails when the page scrolls sideways.
func (b *browser) noOverflow(what string) {
	b.t.Helper()
	var overflow bool
	b.run("overflow", eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
	if overflow {
		b.t.Fatalf("%s scrolls sideways at this width", what)
	}
}

// TestSettingsBrowser runs the Settings pages in Chromium on each engine:
// an API key is created, works against the real API, is listed by its
// prefix only and revoked; an OAuth app gets client credentials that are
// never shown back; allowed origins are validated line by line.
func TestSettingsBrowser(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		b := newBrowser(t, e, 1280, 860, first && os.Getenv("LINKD_SCREENSHOTS") != "")
		first = false
		const email, password = "grace@example.com", "correct horse battery"
		u := e.user(email, password)
		b.signIn(email, password)

		// Settings opens on the API keys, empty in a new organization.
		b.run("settings", chromedp.Click(`.mainnav a[href="/settings"]`, q), chromedp.WaitVisible(".settings .empty", q))
		if p := b.path(); p != "/settings/api-keys" {
			t.Fatalf("Settings opens %s", p)
		}
		if got := b.text(`.subnav a[aria-current="page"]`); got != "API keys" {
			t.Fatalf("current settings item = %q", got)
		}

		// A key needs a name: the error is next to the field.
		b.run("no name", chromedp.Click(`.keyform button[type="submit"]`, q), chromedp.WaitVisible("#name_err", q))
		var invalid string
		b.run("aria-invalid", chromedp.AttributeValue("#name", "aria-invalid", &invalid, nil, q))
		if invalid != "true" || !strings.Contains(b.text("#name_err"), "name") {
			t.Fatalf("empty name: aria-invalid=%q, error %q", invalid, b.text("#name_err"))
		}

		// Create a key; the secret is on the response page, once.
		b.run("create key", chromedp.SendKeys("#name", "Billing backend", q), chromedp.Click(`.keyform button[type="submit"]`, q),
			chromedp.WaitVisible("#secret", q))
		secret := b.value("#secret")
		if !linkd.LooksLikeAPIKey(secret) || !strings.HasPrefix(secret, "tk_") {
			t.Fatalf("shown secret %q", secret)
		}
		if p := b.path(); p != "/settings/api-keys" {
			t.Fatalf("the secret page is at %s: it must be the POST's response", p)
		}
		// The status is emptied on the click and filled when the clipboard's
		// promise settles: wait for it to say something, then check what.
		b.run("copy", chromedp.WaitVisible(`button[data-copy="secret"]`, q), chromedp.Click(`button[data-copy="secret"]`, q),
			chromedp.Poll(`document.querySelector('[data-copy-status="secret"]').textContent !== ""`, nil,
				chromedp.WithPollingTimeout(10*time.Second)))
		if got := b.text(`[data-copy-status="secret"]`); got != "Copied" {
			t.Fatalf("copy says %q", got)
		}
		var live string
		b.run("live region", chromedp.AttributeValue(`[data-copy-status="secret"]`, "aria-live", &live, nil, q))
		if live != "polite" {
			t.Fatalf("copy status aria-live = %q", live)
		}
		b.screenshot("settings-api-key-created")

		// The secret works against the real API.
		if st := e.apiStatus(secret); st != http.StatusOK {
			t.Fatalf("the new key gets %d from the API, want 200", st)
		}

		// Two more keys, so the list looks like a real one.
		b.run("second key", chromedp.Navigate(e.url+"/settings/api-keys"), chromedp.WaitVisible("#name", q),
			chromedp.SendKeys("#name", "Staging worker", q), chromedp.Click(`.keyform button[type="submit"]`, q), chromedp.WaitVisible("#secret", q))
		other := b.value("#secret")
		b.run("list", chromedp.Click(`.secret-card .btn-primary`, q), chromedp.WaitVisible(".keys-table", q))
		names := b.column(".keys-table tbody .key-name")
		if strings.Join(names, ",") != "Staging worker,Billing backend" {
			t.Fatalf("keys listed: %v", names)
		}
		page := b.html()
		if strings.Contains(page, secret) || strings.Contains(page, other) {
			t.Fatal("the list page holds a secret")
		}
		if !strings.Contains(page, linkd.APIKeyPrefix(secret)+"…") {
			t.Fatal("the list does not show the key's prefix")
		}

		// Revoke through the confirmation, which names the key and says
		// what happens.
		keys, err := s.ListAPIKeys(t.Context(), e.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var billing *linkd.APIKey
		for _, k := range keys {
			if k.Name == "Billing backend" {
				billing = k
			}
		}
		b.run("revoke", chromedp.Click(`#key-`+billing.ID+` a`, q), chromedp.WaitVisible("#confirm-h", q))
		confirm := b.text(".confirm")
		for _, want := range []string{"Billing backend", billing.Prefix + "…", "at once", "401"} {
			if !strings.Contains(confirm, want) {
				t.Fatalf("the confirmation does not say %q:\n%s", want, confirm)
			}
		}
		b.run("confirm revoke", chromedp.Click(".confirm .btn-danger", q), chromedp.WaitVisible(".notice", q))
		if got := b.text(`#key-` + billing.ID + ` .status`); !strings.HasPrefix(got, "Revoked") {
			t.Fatalf("revoked key shows %q", got)
		}
		if st := e.apiStatus(secret); st != http.StatusUnauthorized {
			t.Fatalf("the revoked key gets %d from the API, want 401", st)
		}
		if st := e.apiStatus(other); st != http.StatusOK {
			t.Fatalf("the other key gets %d after revoking the first", st)
		}
		b.screenshot("settings-api-keys")

		// Applications: an OAuth app with a client secret that is never
		// shown back.
		const clientSecret = "s3cr3t-client-secret-value-0123456789"
		b.run("apps", chromedp.Click(`.subnav a[href="/settings/apps"]`, q), chromedp.WaitVisible("#app-slack", q))
		if got := b.text("#app-slack [data-app-status]"); got != "Off" {
			t.Fatalf("slack starts %q", got)
		}
		if got := b.text("#app-stripe [data-app-status]"); got != "Available" {
			t.Fatalf("stripe (enabled by default in test) is %q", got)
		}
		// Without a client id the save fails next to the field, and the
		// secret typed is not sent back.
		b.run("open slack", chromedp.Click("#app-slack summary", q), chromedp.WaitVisible("#client_secret-slack", q),
			chromedp.SendKeys("#client_secret-slack", clientSecret, q), chromedp.Click(`#app-slack button[value="enable"]`, q),
			chromedp.WaitVisible("#client_id-slack-err", q))
		if strings.Contains(b.html(), clientSecret) {
			t.Fatal("the error page holds the typed client secret")
		}
		b.run("enable slack", chromedp.SendKeys("#client_id-slack", "1234.5678", q), chromedp.SendKeys("#client_secret-slack", clientSecret, q),
			chromedp.Click(`#app-slack button[value="enable"]`, q), chromedp.WaitVisible(".notice", q))
		b.run("reload", chromedp.Reload(), chromedp.WaitVisible("#app-slack", q))
		if got := b.text("#app-slack [data-app-status]"); got != "Available" {
			t.Fatalf("slack after saving is %q", got)
		}
		if got := b.text("#app-slack .secret-state"); got != "Secret set" {
			t.Fatalf("slack's secret state = %q", got)
		}
		if page := b.html(); strings.Contains(page, clientSecret) {
			t.Fatal("the apps page holds the client secret")
		}
		if got := b.value("#redirect-url"); got != "http://127.0.0.1/oauth/callback" {
			t.Fatalf("redirect URL = %q", got)
		}
		b.run("open slack again", chromedp.Click("#app-slack summary", q), chromedp.WaitVisible("#redirect-slack", q))
		if got, id := b.value("#redirect-slack"), b.value("#client_id-slack"); got != "http://127.0.0.1/oauth/callback" || id != "1234.5678" {
			t.Fatalf("slack's form: redirect %q, client id %q", got, id)
		}
		if got := b.value("#client_secret-slack"); got != "" {
			t.Fatalf("the secret field holds %q", got)
		}
		b.run("copy redirect", chromedp.Click(`button[data-copy="redirect-slack"]`, q), chromedp.WaitVisible(`[data-copy-status="redirect-slack"]`, q))
		// The API sees what the page set, and the change is audited as
		// the API's would be, under the user.
		set, err := s.AppSettings(t.Context(), e.test)
		if err != nil || set["slack"] == nil || !set["slack"].Enabled || set["slack"].ClientID != "1234.5678" || len(set["slack"].ClientSecret) == 0 ||
			bytes.Contains(set["slack"].ClientSecret, []byte(clientSecret)) {
			t.Fatalf("stored slack settings: %+v, %v", set["slack"], err)
		}
		audit, _, err := s.ListAudit(t.Context(), e.test, linkd.AuditFilter{})
		if err != nil || len(audit) == 0 || audit[0].Action != "application.settings" || audit[0].Actor != "user:"+u.ID ||
			!slices.Contains(audit[0].Fields, "client_secret") {
			t.Fatalf("audit: %+v, %v", audit, err)
		}
		b.run("collapse", chromedp.Click("#app-slack summary", q))
		b.screenshot("settings-apps")

		// Disabling asks first, saying what it does.
		b.run("disable", chromedp.Click(`#app-slack a[href="/settings/apps/slack/disable"]`, q), chromedp.WaitVisible("#confirm-h", q))
		if got := b.text(".confirm"); !strings.Contains(got, "cannot connect Slack") || !strings.Contains(got, "stops refreshing") {
			t.Fatalf("disable confirmation:\n%s", got)
		}
		b.run("confirm disable", chromedp.Click(".confirm .btn-danger", q), chromedp.WaitVisible(".notice", q))
		if got := b.text("#app-slack [data-app-status]"); got != "Off" {
			t.Fatalf("slack after disabling is %q", got)
		}

		// Allowed origins: a bad line is named, what was typed stays.
		b.run("origins", chromedp.Click(`.subnav a[href="/settings/origins"]`, q), chromedp.WaitVisible("#origins", q),
			chromedp.SendKeys("#origins", "https://app.example.com\nftp://files.example.com\nhttps://Staging.Example.com:8443", q),
			chromedp.Click(`.settings-main button[type="submit"]`, q), chromedp.WaitVisible(".field-error", q))
		if got := b.text(".field-errors"); !strings.HasPrefix(got, "Line 2:") || !strings.Contains(got, "scheme") {
			t.Fatalf("origin error = %q", got)
		}
		if got := b.value("#origins"); !strings.Contains(got, "ftp://files.example.com") {
			t.Fatalf("the textarea lost what was typed: %q", got)
		}
		b.screenshot("settings-origins-error")
		b.run("fix origins", chromedp.SetValue("#origins", "https://app.example.com\n\nhttps://Staging.Example.com:8443/\n", q),
			chromedp.Click(`.settings-main button[type="submit"]`, q), chromedp.WaitVisible(".notice", q))
		origins, err := s.AllowedOrigins(t.Context(), e.test)
		if err != nil || strings.Join(origins, " ") != "https://app.example.com https://staging.example.com:8443" {
			t.Fatalf("stored origins %v, %v", origins, err)
		}
		// Removing one is confirmed, naming it.
		b.run("remove origin", chromedp.SetValue("#origins", "https://app.example.com", q),
			chromedp.Click(`.settings-main button[type="submit"]`, q), chromedp.WaitVisible("#confirm-h", q))
		if got := b.text(".confirm .chips"); got != "https://staging.example.com:8443" {
			t.Fatalf("removal confirmation names %q", got)
		}
		b.run("confirm removal", chromedp.Click(".confirm .btn-danger", q), chromedp.WaitVisible(".notice", q))
		if origins, _ := s.AllowedOrigins(t.Context(), e.test); strings.Join(origins, " ") != "https://app.example.com" {
			t.Fatalf("origins after removal: %v", origins)
		}

		// Import jobs: none yet, with the next step.
		b.run("imports", chromedp.Click(`.subnav a[href="/settings/imports"]`, q), chromedp.WaitVisible(".empty", q))
		if !strings.Contains(b.text(".empty"), "Import a CSV") {
			t.Fatalf("imports empty state: %q", b.text(".empty"))
		}
		// One through the API with the remaining key is listed with its
		// counts and links to its page.
		csv := "linked_account_id,name\nq3-1,One\nq3-2,Two\n,No id\nq3-3,Three\n"
		req, _ := http.NewRequest("POST", e.url+"/api/v2/public/linked-account/import?filename=customers-q3.csv&mode=upsert", strings.NewReader(csv))
		req.Header.Set("x-api-key", other)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, resp, http.StatusAccepted)
		body(t, resp)
		var job *linkd.ImportJob
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			jobs, _, err := s.ListImportJobs(t.Context(), e.test, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) == 1 && jobs[0].Finished() {
				job = jobs[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the import did not finish: %+v", jobs)
			}
		}
		b.run("imports list", chromedp.Reload(), chromedp.WaitVisible(".jobs-table", q))
		row := b.column(".jobs-table tbody td")
		if len(row) != 8 || !strings.HasPrefix(row[0], "customers-q3.csv") || row[1] != "succeeded" || row[2] != "4 / 4" || row[3] != "3" || row[5] != "1" {
			t.Fatalf("import row: %q", row)
		}
		b.screenshot("settings-imports")
		b.run("job page", chromedp.Click(".jobs-table tbody a", q), chromedp.WaitVisible(".stats", q))
		if p := b.path(); p != "/imports/"+job.ID {
			t.Fatalf("the import's link leads to %s", p)
		}

		// A phone-sized screen: nothing scrolls sideways.
		b.run("narrow", chromedp.EmulateViewport(375, 800))
		for _, p := range []string{"/settings/api-keys", "/settings/apps", "/settings/origins", "/settings/imports"} {
			b.run("narrow "+p, chromedp.Navigate(e.url+p), chromedp.WaitVisible(".subnav", q))
			b.noOverflow(p)
		}
		b.run("narrow apps", chromedp.Navigate(e.url+"/settings/apps"), chromedp.WaitVisible("#app-slack", q), chromedp.Click("#app-slack summary", q))
		b.noOverflow("/settings/apps with a form open")
		b.screenshot("settings-apps-mobile")
	})
}

// TestSettingsHTTP covers the Settings pages without a browser: tenancy,
// cross-origin refusal, the secret's one showing, the import list.
func TestSettingsHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		ctx := t.Context()
		prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
		key := func(org string, env linkd.Environment, name string) *linkd.APIKey {
			secret, hash := linkd.NewAPIKeySecret(env)
			k := &linkd.APIKey{ID: linkd.NewID(), OrgID: org, Env: env, Name: name, Prefix: linkd.APIKeyPrefix(secret), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			if err := s.CreateAPIKey(ctx, k, hash, nil); err != nil {
				t.Fatal(err)
			}
			return k
		}
		other := &linkd.Org{ID: linkd.NewID(), Name: "Other Org", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateOrg(ctx, other); err != nil {
			t.Fatal(err)
		}
		testKey := key(e.org.ID, linkd.EnvTest, "Test key")
		prodKey := key(e.org.ID, linkd.EnvProduction, "Production key")
		otherKey := key(other.ID, linkd.EnvTest, "Other org key")

		e.user("ada@example.com", "correct horse battery")
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		get := func(path string) (int, string) {
			t.Helper()
			resp, err := c.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body(t, resp)
		}

		// The session looks at the test environment: only its keys.
		st, page := get("/settings/api-keys")
		if st != http.StatusOK || !strings.Contains(page, "Test key") || !strings.Contains(page, testKey.Prefix) {
			t.Fatalf("keys page %d:\n%s", st, page)
		}
		for _, k := range []*linkd.APIKey{prodKey, otherKey} {
			if strings.Contains(page, k.Name) || strings.Contains(page, k.ID) {
				t.Fatalf("the test environment's page lists %q", k.Name)
			}
		}
		// Another environment's or organization's key cannot be revoked
		// from here, nor its confirmation opened.
		for _, k := range []*linkd.APIKey{prodKey, otherKey} {
			if st, _ := get("/settings/api-keys/" + k.ID + "/revoke"); st != http.StatusNotFound {
				t.Fatalf("confirmation of %q: %d", k.Name, st)
			}
			resp := e.post(c, "/settings/api-keys/"+k.ID+"/revoke", nil, e.url)
			wantStatus(t, resp, http.StatusNotFound)
			body(t, resp)
		}
		all, _ := s.ListAPIKeys(ctx, e.org.ID)
		for _, k := range all {
			if k.RevokedAt != nil {
				t.Fatalf("%q was revoked", k.Name)
			}
		}
		// Switched to production, the page lists production's key.
		wantStatus(t, e.post(c, "/env", url.Values{"env": {"production"}, "back": {"/settings/api-keys"}}, e.url), http.StatusSeeOther)
		if _, page := get("/settings/api-keys"); !strings.Contains(page, "Production key") || strings.Contains(page, "Test key") {
			t.Fatalf("production keys page:\n%s", page)
		}

		// A key created here is production's; its secret is in the POST's
		// response only, which no cache keeps.
		resp := e.post(c, "/settings/api-keys", url.Values{"name": {"Deploy bot"}}, e.url)
		wantStatus(t, resp, http.StatusCreated)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control = %q", cc)
		}
		if loc, ck := resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"); loc != "" || len(ck) > 0 {
			t.Fatalf("the secret page redirects (%q) or sets cookies (%v)", loc, ck)
		}
		created := body(t, resp)
		i := strings.Index(created, `value="pk_`)
		if i < 0 {
			t.Fatalf("no production secret on the page:\n%s", created)
		}
		secret := created[i+len(`value="`) : i+len(`value="`)+46]
		if st := e.apiStatus(secret); st != http.StatusOK {
			t.Fatalf("the new key gets %d", st)
		}
		if _, page := get("/settings/api-keys"); strings.Contains(page, secret) || !strings.Contains(page, "Deploy bot") {
			t.Fatal("the list holds the secret, or misses the key")
		}
		// The name is checked and kept.
		resp = e.post(c, "/settings/api-keys", url.Values{"name": {strings.Repeat("x", 101)}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "at most 100") || !strings.Contains(b, `value="`+strings.Repeat("x", 101)+`"`) {
			t.Fatalf("long name:\n%s", b)
		}

		// Forms posted from another site are refused and change nothing.
		crossSite := func(path string, form url.Values) {
			t.Helper()
			resp := e.post(c, path, form, "https://evil.example")
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
			req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
		}
		crossSite("/settings/api-keys", url.Values{"name": {"Evil"}})
		crossSite("/settings/api-keys/"+prodKey.ID+"/revoke", nil)
		crossSite("/settings/apps/slack/enable", nil)
		crossSite("/settings/apps/stripe/disable", nil)
		crossSite("/settings/apps/slack/credentials", url.Values{"client_id": {"evil"}, "client_secret": {"evil"}})
		crossSite("/settings/origins", url.Values{"origins": {"https://evil.example"}, "confirm": {"1"}})
		all, _ = s.ListAPIKeys(ctx, e.org.ID)
		for _, k := range all {
			if k.Name == "Evil" || k.RevokedAt != nil {
				t.Fatalf("a cross-site POST changed the keys: %+v", k)
			}
		}
		if set, _ := s.AppSettings(ctx, prod); len(set) != 0 {
			t.Fatalf("a cross-site POST changed app settings: %+v", set)
		}
		if o, _ := s.AllowedOrigins(ctx, prod); len(o) != 0 {
			t.Fatalf("a cross-site POST changed the origins: %v", o)
		}

		// Revoking without JavaScript: the confirmation is a page, the
		// POST revokes.
		st, page = get("/settings/api-keys/" + prodKey.ID + "/revoke")
		if st != http.StatusOK || !strings.Contains(page, prodKey.Prefix+"…") || !strings.Contains(page, "Production key") {
			t.Fatalf("confirmation %d:\n%s", st, page)
		}
		resp = e.post(c, "/settings/api-keys/"+prodKey.ID+"/revoke", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		body(t, resp)
		if k, _ := s.ListAPIKeys(ctx, e.org.ID); !slices.ContainsFunc(k, func(k *linkd.APIKey) bool { return k.ID == prodKey.ID && k.RevokedAt != nil }) {
			t.Fatal("the key was not revoked")
		}

		// Apps in production: key-based ones are off by default; a
		// key-based app has no credentials to set.
		st, page = get("/settings/apps")
		if st != http.StatusOK || !strings.Contains(page, "0 of ") {
			t.Fatalf("production apps %d:\n%s", st, page)
		}
		resp = e.post(c, "/settings/apps/stripe/credentials", url.Values{"client_id": {"x"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "key-based") {
			t.Fatalf("stripe credentials:\n%s", b)
		}
		wantStatus(t, e.post(c, "/settings/apps/stripe/enable", nil, e.url), http.StatusSeeOther)
		wantStatus(t, e.post(c, "/settings/apps/nope/enable", nil, e.url), http.StatusNotFound)
		// Saving the client id alone keeps a stored secret.
		resp = e.post(c, "/settings/apps/github/credentials", url.Values{"client_id": {"gh-1"}, "client_secret": {"gh-secret"}, "action": {"enable"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		resp = e.post(c, "/settings/apps/github/credentials", url.Values{"client_id": {"gh-2"}, "client_secret": {""}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		set, _ := s.AppSettings(ctx, prod)
		if g := set["github"]; g == nil || g.ClientID != "gh-2" || len(g.ClientSecret) == 0 || !g.Enabled || !set["stripe"].Enabled {
			t.Fatalf("production settings: %+v", set)
		}
		if set, _ := s.AppSettings(ctx, e.test); len(set) != 0 {
			t.Fatalf("production's changes reached test: %+v", set)
		}
		// Disabling without JavaScript: a confirmation page, then the POST.
		if st, page := get("/settings/apps/github/disable"); st != http.StatusOK || !strings.Contains(page, "Disable GitHub in production?") {
			t.Fatalf("disable confirmation %d:\n%s", st, page)
		}
		wantStatus(t, e.post(c, "/settings/apps/github/disable", nil, e.url), http.StatusSeeOther)
		if set, _ := s.AppSettings(ctx, prod); set["github"].Enabled || len(set["github"].ClientSecret) == 0 {
			t.Fatalf("after disabling: %+v", set["github"])
		}

		// Allowed origins: every bad line is named, more than the limit is
		// refused, and production allows no loopback origin implicitly.
		resp = e.post(c, "/settings/origins", url.Values{"origins": {"https://ok.example\nhttps://x.example/path\n\nnope"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "Line 2:") || !strings.Contains(b, "Line 4:") || strings.Contains(b, "Line 1:") {
			t.Fatalf("origin errors:\n%s", b)
		}
		var many strings.Builder
		for i := range linkd.MaxAllowedOrigins + 1 {
			fmt.Fprintf(&many, "https://s%d.example\n", i)
		}
		resp = e.post(c, "/settings/origins", url.Values{"origins": {many.String()}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, "at most 100") {
			t.Fatalf("too many origins:\n%s", b)
		}
		if _, page := get("/settings/origins"); strings.Contains(page, "localhost") {
			t.Fatal("production says loopback origins are allowed")
		}
		resp = e.post(c, "/settings/origins", url.Values{"origins": {"https://b.example\nhttps://a.example\nhttps://a.example"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		// Removing one without confirming shows the confirmation, and
		// changes nothing yet.
		resp = e.post(c, "/settings/origins", url.Values{"origins": {"https://b.example"}}, e.url)
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Remove 1 allowed origin?") || !strings.Contains(b, "https://a.example") {
			t.Fatalf("removal confirmation:\n%s", b)
		}
		if o, _ := s.AllowedOrigins(ctx, prod); strings.Join(o, " ") != "https://a.example https://b.example" {
			t.Fatalf("origins before confirming: %v", o)
		}
		wantStatus(t, e.post(c, "/settings/origins", url.Values{"origins": {"https://b.example"}, "confirm": {"1"}}, e.url), http.StatusSeeOther)
		if o, _ := s.AllowedOrigins(ctx, prod); strings.Join(o, " ") != "https://b.example" {
			t.Fatalf("origins after confirming: %v", o)
		}
		audit, _, _ := s.ListAudit(ctx, prod, linkd.AuditFilter{})
		if len(audit) == 0 || audit[0].Action != "org.allowed_origins" || !strings.HasPrefix(audit[0].Actor, "user:") {
			t.Fatalf("origins audit: %+v", audit)
		}
		if o, _ := s.AllowedOrigins(ctx, e.test); len(o) != 0 {
			t.Fatalf("production's origins reached test: %v", o)
		}

		// Import jobs: an upload is listed, linking to its page; the other
		// environment's list does not show it.
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("mode", "create")
		fw, _ := mw.CreateFormFile("file", "customers-q3.csv")
		fw.Write([]byte("linked_account_id,name\nq3-1,One\nq3-2,Two\n"))
		mw.Close()
		req, _ := http.NewRequest("POST", e.url+"/accounts/import", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", e.url)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, resp, http.StatusSeeOther)
		// The upload goes to the mapping step; importing as matched
		// starts the job.
		mapPath := resp.Header.Get("Location")
		resp = e.post(c, mapPath, url.Values{"action": {"import"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		jobPath := resp.Header.Get("Location")
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, page = get("/settings/imports")
			if strings.Contains(page, "status-succeeded") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(page, "customers-q3.csv") || !strings.Contains(page, `href="`+jobPath+`"`) || !strings.Contains(page, "status-succeeded") {
			t.Fatalf("imports list (job %s):\n%s", jobPath, page)
		}
		wantStatus(t, e.post(c, "/env", url.Values{"env": {"test"}, "back": {"/settings/imports"}}, e.url), http.StatusSeeOther)
		if _, page := get("/settings/imports"); strings.Contains(page, "customers-q3.csv") {
			t.Fatal("the test environment lists production's import")
		}
	})
}
