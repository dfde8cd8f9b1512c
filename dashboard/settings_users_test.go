package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestSettingsUsersHTTP: Settings › Users lists the organization's users;
// disabling one ends its sessions at once on every instance (a second
// server on the same database refuses its cookie on the next request),
// sign-out everywhere and delete do what they say, each is audited, and
// nobody can lock the organization out: you cannot disable or delete
// yourself, nor its last enabled user.
func TestSettingsUsersHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		// Another instance on the same database.
		dash2, err := dashboard.New(dashboard.Config{Store: s, Services: linkd.NewServices(s, e.accounts.Keys, ""), Imports: csvio.NewImporter(s, e.accounts, 0)})
		if err != nil {
			t.Fatal(err)
		}
		other := httptest.NewServer(dash2)
		defer other.Close()
		ada := e.user("ada@example.com", "ada's long password")
		bob := e.user("bob@example.com", "bob's long password")
		ca, cb := e.client(), e.client()
		wantStatus(t, e.login(ca, ada.Email, "ada's long password"), http.StatusSeeOther)
		wantStatus(t, e.login(cb, bob.Email, "bob's long password"), http.StatusSeeOther)
		bobCookie := cookieOf(t, cb, e.url)
		get := func(c *http.Client, base, path string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest("GET", base+path, nil)
			if c == nil {
				c = e.client()
				req.AddCookie(bobCookie)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		bobIn := func(base string) bool {
			resp := get(nil, base, "/accounts")
			body(t, resp)
			return resp.StatusCode == http.StatusOK
		}
		if !bobIn(e.url) || !bobIn(other.URL) {
			t.Fatal("bob's session does not work on both instances")
		}

		resp := get(ca, e.url, "/settings/users")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "ada@example.com") || !strings.Contains(b, "bob@example.com") || !strings.Contains(b, "(you)") {
			t.Fatalf("users page:\n%s", b)
		}
		// Ada disables Bob: his cookie is refused on both instances.
		resp = e.post(ca, "/settings/users/"+bob.ID+"/disable", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		body(t, resp)
		if bobIn(e.url) || bobIn(other.URL) {
			t.Fatal("a disabled user's session still works")
		}
		resp = e.login(e.client(), bob.Email, "bob's long password")
		wantStatus(t, resp, http.StatusForbidden)
		if b := body(t, resp); !strings.Contains(b, "disabled") {
			t.Fatalf("a disabled user signing in:\n%s", b)
		}
		// Ada cannot disable or delete herself, and is now the last
		// enabled user.
		for _, path := range []string{"/settings/users/" + ada.ID + "/disable", "/settings/users/" + ada.ID + "/delete"} {
			resp = e.post(ca, path, nil, e.url)
			wantStatus(t, resp, http.StatusForbidden)
			if b := body(t, resp); !strings.Contains(b, "yourself") {
				t.Fatalf("POST %s:\n%s", path, b)
			}
		}
		// Enable, then sign out everywhere.
		wantStatus(t, e.post(ca, "/settings/users/"+bob.ID+"/enable", nil, e.url), http.StatusSeeOther)
		cb = e.client()
		wantStatus(t, e.login(cb, bob.Email, "bob's long password"), http.StatusSeeOther)
		bobCookie = cookieOf(t, cb, e.url)
		if !bobIn(other.URL) {
			t.Fatal("bob cannot sign in after being enabled")
		}
		wantStatus(t, e.post(ca, "/settings/users/"+bob.ID+"/sign-out", nil, e.url), http.StatusSeeOther)
		if bobIn(other.URL) {
			t.Fatal("bob's session survived sign-out everywhere")
		}
		// Delete, through the confirmation page.
		resp = get(ca, e.url, "/settings/users/"+bob.ID+"/delete")
		wantStatus(t, resp, http.StatusOK)
		if b := body(t, resp); !strings.Contains(b, "Delete the user bob@example.com?") {
			t.Fatalf("delete confirmation:\n%s", b)
		}
		wantStatus(t, e.post(ca, "/settings/users/"+bob.ID+"/delete", nil, e.url), http.StatusSeeOther)
		if _, _, err := s.UserByEmail(t.Context(), bob.Email); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("bob after delete: %v", err)
		}
		// A cross-site form cannot do any of it.
		resp = e.post(ca, "/settings/users/"+ada.ID+"/sign-out", url.Values{}, "https://evil.example")
		wantStatus(t, resp, http.StatusForbidden)
		body(t, resp)
		// Every change is in the organization's audit log.
		entries, _, err := s.ListAudit(t.Context(), linkd.Tenant{OrgID: e.org.ID}, linkd.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range entries {
			if ev.Actor != "user:"+ada.ID || ev.Details["user_id"] != bob.ID {
				t.Fatalf("audit entry %+v", ev)
			}
			actions = append(actions, ev.Action)
		}
		want := []string{linkd.AuditUserDelete, linkd.AuditUserSignOut, linkd.AuditUserEnable, linkd.AuditUserDisable}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Fatalf("audit actions %v, want %v", actions, want)
		}
	})
}

// cookieOf returns the session cookie c holds for base.
func cookieOf(t *testing.T, c *http.Client, base string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "linkd_session" {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}
