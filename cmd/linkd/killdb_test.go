package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the tests' read-only recounts
)

// Helpers of the repeated kill -9 tests (issue 16): the number of kills, a
// read-only view of the database for recounts, API and dashboard clients,
// and an OAuth provider that rotates refresh tokens.

// testLong reports whether the long versions run (LINKD_TEST_LONG).
func testLong() bool { return os.Getenv("LINKD_TEST_LONG") != "" }

// sigkill kills the processes with SIGKILL, all before waiting for any
// (so several die together), and waits for them.
func sigkill(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps {
		p.cmd.Wait()
	}
}

// openRecount opens the test's database read-only, to recount what the
// product's counters claim straight from the rows. Queries use no
// parameters, so one text runs on both engines.
func openRecount(t *testing.T, tenv testEnv) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if u := tenv["LINKD_DATABASE_URL"]; u != "" {
		db, err = sql.Open("pgx", u)
	} else {
		path := filepath.Join(tenv["LINKD_DATA_DIR"], "linkd.db")
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	}
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// sqlCount runs a query returning one integer.
func sqlCount(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// pairs runs a query returning (text, integer) rows as a map.
func pairs(t *testing.T, db *sql.DB, q string) map[string]int64 {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCounters recounts, from the rows, every counter linkd keeps: each
// account's connected apps and active workflows, each app's count of
// connected accounts, and the tenant's account count (the list's
// totalDocs); and checks that no connection or config outlived its account.
func checkCounters(t *testing.T, db *sql.DB) {
	t.Helper()
	if n := sqlCount(t, db, `SELECT count(*) FROM linked_accounts a WHERE connected_apps <>
		(SELECT count(DISTINCT slug) FROM connections c WHERE c.org_id = a.org_id AND c.env = a.env AND c.account_pk = a.id)`); n != 0 {
		t.Errorf("%d accounts' connected_apps differ from a recount of their connections", n)
	}
	if n := sqlCount(t, db, `SELECT count(*) FROM linked_accounts a WHERE active_workflows <>
		(SELECT CAST(coalesce(sum(enabled_workflows), 0) AS BIGINT) FROM configs c WHERE c.org_id = a.org_id AND c.env = a.env AND c.account_pk = a.id)`); n != 0 {
		t.Errorf("%d accounts' active_workflows differ from a recount of their configs", n)
	}
	kept := pairs(t, db, `SELECT org_id || '/' || env || '/' || slug, CAST(n AS BIGINT) FROM app_counts`)
	recount := pairs(t, db, `SELECT org_id || '/' || env || '/' || slug, count(DISTINCT account_pk) FROM connections GROUP BY org_id, env, slug`)
	for k, n := range kept {
		if n != recount[k] {
			t.Errorf("app_counts %s = %d, a recount of connections %d", k, n, recount[k])
		}
	}
	for k, n := range recount {
		if _, ok := kept[k]; !ok {
			t.Errorf("app_counts has no row for %s (%d accounts connected)", k, n)
		}
	}
	slots := pairs(t, db, `SELECT org_id || '/' || env, CAST(sum(n) AS BIGINT) FROM account_counts GROUP BY org_id, env`)
	rows := pairs(t, db, `SELECT org_id || '/' || env, count(*) FROM linked_accounts GROUP BY org_id, env`)
	for k, n := range slots {
		if n != rows[k] {
			t.Errorf("account_counts of %s sum to %d, a recount of linked_accounts %d", k, n, rows[k])
		}
	}
	for k, n := range rows {
		if _, ok := slots[k]; !ok {
			t.Errorf("account_counts has nothing for %s (%d accounts)", k, n)
		}
	}
	for _, tbl := range []string{"connections", "configs"} {
		if n := sqlCount(t, db, `SELECT count(*) FROM `+tbl+` c WHERE NOT EXISTS
			(SELECT 1 FROM linked_accounts a WHERE a.org_id = c.org_id AND a.env = c.env AND a.id = c.account_pk)`); n != 0 {
			t.Errorf("%d %s outlived their account", n, tbl)
		}
	}
}

// api calls linkd's API with an API key; safe for concurrent use.
type api struct {
	base, key string
}

// do sends a JSON body (a string, or nil) and decodes the JSON answer.
func (a api) do(method, path string, body any, headers ...string) (int, map[string]any, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("x-api-key", a.key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if res.StatusCode != 200 {
		return res.StatusCode, out, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, out, nil
}

// must is do that fails the test on anything but 200.
func (a api) must(t *testing.T, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	_, out, err := a.do(method, path, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parallel runs fn(i) for i in [0, n) on 8 goroutines and fails on the
// first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// importAccounts creates accounts through a CSV import and waits for it.
func importAccounts(t *testing.T, a api, csv string) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.base+"/api/v2/public/linked-account/import?filename=seed.csv", strings.NewReader(csv))
	req.Header.Set("x-api-key", a.key)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("import: %d %v", res.StatusCode, job)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		j := a.must(t, "GET", "/api/v2/public/linked-account/import/"+job["_id"].(string), nil)
		if j["state"] == "succeeded" && j["failed"] == float64(0) {
			return
		}
		if j["state"] != "running" && j["state"] != "queued" || time.Now().After(deadline) {
			t.Fatalf("seed import: %v", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dashboardSession creates a dashboard user with the CLI, signs it in and
// switches it to the test environment; the client keeps the session cookie
// and does not follow redirects.
func dashboardSession(t *testing.T, bin string, env []string, base string) *http.Client {
	t.Helper()
	const password = "a long enough password for kills"
	cmd := exec.Command(bin, "user", "create", "--email", "ops@example.com")
	cmd.Env, cmd.Stdin = env, strings.NewReader(password+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/login", url.Values{"email": {"ops@example.com"}, "password": {password}}},
		{"/env", url.Values{"env": {"test"}, "back": {"/accounts"}}},
	} {
		res := postForm(t, c, base, step.path, step.form)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("dashboard %s: %d", step.path, res.StatusCode)
		}
	}
	return c
}

// postForm posts a dashboard form as the browser would (same origin).
func postForm(t *testing.T, c *http.Client, base, path string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// rotatingProvider is an OAuth 2.0 token and revocation endpoint on
// loopback that rotates refresh tokens as many real providers do: each
// refresh spends the token presented, and a spent one is refused with
// invalid_grant. It records every refresh token presented, and every token
// revoked. Tokens are named after their grant chain (one per connection):
// rt-CHAIN-N is the Nth refresh token of CHAIN.
type rotatingProvider struct {
	URL string
	// gen is the test's current process generation, recorded with each
	// presentation so that a token presented twice can be placed.
	gen atomic.Int32
	// expiresIn is the lifetime of new access tokens, in seconds.
	expiresIn atomic.Int64

	mu        sync.Mutex
	valid     map[string]string // unspent refresh token → chain
	latest    map[string]grant  // chain → the last grant issued
	presented []presentation
	revoked   []string
}

type grant struct {
	access, refresh string
	n               int
}

// presentation is one refresh grant request.
type presentation struct {
	token, chain string
	gen          int32
	granted      bool
	at           time.Time
}

func newRotatingProvider(t *testing.T) *rotatingProvider {
	p := &rotatingProvider{valid: map[string]string{}, latest: map[string]grant{}}
	p.expiresIn.Store(3600)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") != "refresh_token" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		token := r.PostForm.Get("refresh_token")
		p.mu.Lock()
		chain, ok := p.valid[token]
		pr := presentation{token: token, chain: chainOf(token), gen: p.gen.Load(), granted: ok, at: time.Now()}
		p.presented = append(p.presented, pr)
		var g grant
		if ok {
			delete(p.valid, token)
			g = p.issue(chain)
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token spent or unknown"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": g.access, "refresh_token": g.refresh,
			"token_type": "Bearer", "expires_in": p.expiresIn.Load()})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		p.mu.Lock()
		p.revoked = append(p.revoked, r.PostForm.Get("token"))
		p.mu.Unlock()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// chainOf is the chain a token names (rt-CHAIN-N).
func chainOf(token string) string {
	s := strings.TrimPrefix(token, "rt-")
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return s[:i]
	}
	return s
}

// issue makes the next grant of chain; p.mu is held.
func (p *rotatingProvider) issue(chain string) grant {
	n := p.latest[chain].n + 1
	g := grant{access: fmt.Sprintf("at-%s-%d", chain, n), refresh: fmt.Sprintf("rt-%s-%d", chain, n), n: n}
	p.latest[chain] = g
	p.valid[g.refresh] = chain
	return g
}

// seed starts a chain and returns its first grant, for migrate-token.
func (p *rotatingProvider) seed(chain string) grant {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issue(chain)
}

// presentations returns how many refresh grants were asked for.
func (p *rotatingProvider) presentations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.presented)
}

// appYAML is the catalog entry of an OAuth app (slug) on this provider.
func (p *rotatingProvider) appYAML(slug string) string {
	return `  - slug: ` + slug + `
    name: Rotating ` + slug + `
    description: A provider on loopback that rotates refresh tokens.
    auth_type: oauth2
    oauth2:
      authorize_url: ` + p.URL + `/authorize
      token_url: ` + p.URL + `/token
      revocation_url: ` + p.URL + `/revoke
      scopes: [read]
      auth_style: header
`
}

// migrateGrant stores g as account's connection to slug (migrate-token),
// its access token expiring in expiresIn seconds.
func migrateGrant(a api, account, slug string, g grant, expiresIn int) error {
	_, _, err := a.do("PUT", "/api/v2/public/migrate-token", map[string]any{"linked_account_id": account, "slug": slug,
		"auth_object": map[string]any{"access_token": g.access, "refresh_token": g.refresh, "token_type": "Bearer", "expires_in": expiresIn}})
	return err
}
