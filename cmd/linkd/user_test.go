package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSetupCodeAndUserCreate: serve logs a setup code while no user
// exists, the code creates the first user at /setup, and "linkd user
// create" adds another that can sign in.
func TestSetupCodeAndUserCreate(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env["LINKD_ADDR"] = "127.0.0.1:0"
			logs := &syncWriter{w: &strings.Builder{}}
			addrc := make(chan string, 1)
			errc := make(chan error, 1)
			go func() { errc <- runServe(ctx, nil, env.get, io.Discard, logs, func(a string) { addrc <- a }) }()
			var base string
			select {
			case a := <-addrc:
				base = "http://" + a
			case err := <-errc:
				t.Fatalf("serve: %v", err)
			}
			defer func() { cancel(); <-errc }()
			logs.mu.Lock()
			m := regexp.MustCompile(`setup_code=(setup-[A-Za-z0-9_-]+)`).FindStringSubmatch(logs.w.(*strings.Builder).String())
			logs.mu.Unlock()
			if m == nil {
				t.Fatal("serve logged no setup code")
			}
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
			post := func(path string, form url.Values) *http.Response {
				req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", base)
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			resp := post("/setup", url.Values{"code": {m[1]}, "email": {"first@example.com"}, "password": {"a long first password"}, "password2": {"a long first password"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts" {
				t.Fatalf("setup: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}

			var out, errb strings.Builder
			if err := runUser(t.Context(), []string{"create", "--email", "Second@Example.com"}, env.get, strings.NewReader("another long password\n"), &out, &errb); err != nil {
				t.Fatalf("user create: %v\n%s", err, errb.String())
			}
			if err := runUser(t.Context(), []string{"create", "--email", "second@example.com"}, env.get, strings.NewReader("another long password\n"), &out, &errb); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Fatalf("a second user with the same email: %v", err)
			}
			if err := runUser(t.Context(), []string{"create", "--email", "third@example.com"}, env.get, strings.NewReader("short\n"), &out, &errb); err == nil {
				t.Fatal("a short password was accepted")
			}
			resp = post("/login", url.Values{"email": {"second@example.com"}, "password": {"another long password"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts" {
				t.Fatalf("login of the CLI's user: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}

			// Offboarding from the CLI (issue 9, item 5).
			user := func(stdin string, args ...string) (string, error) {
				var out, errb strings.Builder
				err := runUser(t.Context(), args, env.get, strings.NewReader(stdin), &out, &errb)
				return out.String(), err
			}
			signIn := func(password string) (*http.Cookie, int) {
				resp := post("/login", url.Values{"email": {"second@example.com"}, "password": {password}})
				for _, c := range resp.Cookies() {
					if c.Name == "linkd_session" && c.Value != "" {
						return c, resp.StatusCode
					}
				}
				return nil, resp.StatusCode
			}
			live := func(c *http.Cookie) bool {
				req, _ := http.NewRequest("GET", base+"/accounts", nil)
				req.AddCookie(c)
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}
			sess, _ := signIn("another long password")
			if sess == nil || !live(sess) {
				t.Fatal("no live session to offboard")
			}
			if out, err := user("", "list"); err != nil || !strings.Contains(out, "first@example.com") || !strings.Contains(out, "second@example.com") {
				t.Fatalf("user list: %v\n%s", err, out)
			}
			if _, err := user("", "disable", "second@example.com"); err != nil {
				t.Fatal(err)
			}
			if live(sess) {
				t.Fatal("a disabled user's session still works")
			}
			if _, st := signIn("another long password"); st != http.StatusForbidden {
				t.Fatalf("a disabled user signing in: %d, want 403", st)
			}
			if out, err := user("", "list"); err != nil || !strings.Contains(out, "disabled") {
				t.Fatalf("user list after disabling: %v\n%s", err, out)
			}
			if _, err := user("", "enable", "second@example.com"); err != nil {
				t.Fatal(err)
			}
			sess, st := signIn("another long password")
			if sess == nil || !live(sess) {
				t.Fatalf("signing in after enable: %d", st)
			}
			if out, err := user("", "sign-out", "second@example.com"); err != nil || !strings.Contains(out, "ended 1 session(s)") || live(sess) {
				t.Fatalf("sign-out: %v %q, session live %v", err, out, live(sess))
			}
			sess, _ = signIn("another long password")
			if _, err := user("aaaaaaaaaaaa\n", "reset-password", "second@example.com"); err == nil || !strings.Contains(err.Error(), "repeats") {
				t.Fatalf("reset to a weak password: %v", err)
			}
			if _, err := user("a brand new passphrase\n", "reset-password", "second@example.com"); err != nil {
				t.Fatal(err)
			}
			if live(sess) {
				t.Fatal("a session survived the password reset")
			}
			if _, st := signIn("another long password"); st != http.StatusUnauthorized {
				t.Fatalf("the old password after a reset: %d", st)
			}
			if _, st := signIn("a brand new passphrase"); st != http.StatusSeeOther {
				t.Fatalf("the new password: %d", st)
			}
			if _, err := user("", "delete", "first@example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := user("", "disable", "second@example.com"); err == nil || !strings.Contains(err.Error(), "last enabled user") {
				t.Fatalf("disabling the last enabled user: %v", err)
			}
			if _, err := user("", "delete", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user") {
				t.Fatalf("deleting an unknown user: %v", err)
			}
			if _, err := user("", "disable"); err == nil || !strings.Contains(err.Error(), "needs the user's email") {
				t.Fatalf("disable without an email: %v", err)
			}
		})
	}
}

// TestTrustProxyReplaced: the old on/off --trust-proxy (or its variable)
// stops start-up with directions to --trusted-proxies, instead of starting
// without the trust the operator expects.
func TestTrustProxyReplaced(t *testing.T) {
	env := engines(t)["sqlite"]
	for _, tt := range []struct {
		args []string
		vars map[string]string
	}{
		{[]string{"--trust-proxy"}, nil},
		{nil, map[string]string{"LINKD_TRUST_PROXY": "true"}},
	} {
		get := func(k string) string {
			if v, ok := tt.vars[k]; ok {
				return v
			}
			return env.get(k)
		}
		err := runServe(t.Context(), tt.args, get, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "replaced by --trusted-proxies (LINKD_TRUSTED_PROXIES)") {
			t.Fatalf("%v %v: %v", tt.args, tt.vars, err)
		}
	}
	var errb strings.Builder
	err := runServe(t.Context(), []string{"--trusted-proxies", "10.0.0.0/33"}, env.get, io.Discard, &errb, nil)
	if err == nil || !strings.Contains(err.Error(), "trusted proxies") {
		t.Fatalf("a bad range: %v", err)
	}
}
