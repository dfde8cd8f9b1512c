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
		})
	}
}
