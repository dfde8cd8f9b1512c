package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestAccountPageAPICalls: the account page's "API calls" card says when
// there are none, and once the backend calls keyapp through the proxy it
// shows the last day's count, the error rate (linkd's failures and 5xx)
// and the calls, without their query strings.
func TestAccountPageAPICalls(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		ctx := t.Context()
		e.user("ada@example.com", "correct horse battery")
		acctFixture(t, e, e.test, "acme-001", "Acme Corporation")
		if _, err := e.conns.SaveKeys(ctx, e.test, "connect:"+linkd.NewID(), "acme-001", "keyapp", map[string]json.RawMessage{"key": json.RawMessage(`"k-1"`)}); err != nil {
			t.Fatal(err)
		}
		secret, hash := linkd.NewAPIKeySecret(linkd.EnvTest)
		key := &linkd.APIKey{ID: linkd.NewID(), OrgID: e.org.ID, Env: linkd.EnvTest, Name: "proxy", Prefix: linkd.APIKeyPrefix(secret), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateAPIKey(ctx, key, hash, nil); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		page := func() string {
			t.Helper()
			resp, err := c.Get(e.url + "/account/acme-001")
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, resp, http.StatusOK)
			return body(t, resp)
		}
		if b := page(); !strings.Contains(b, "No API calls yet: calls your backend makes through the proxy (docs/proxy.md) appear here.") {
			t.Fatalf("no empty state:\n%s", b)
		}

		call := func(path string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v2/public/proxy/keyapp"+path, nil)
			req.Header.Set("x-api-key", secret)
			req.Header.Set("linked_account_id", "acme-001")
			req.Header.Set("linkd-proxy-retries", "0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		call("/customers/42?email=ada%40example.com")
		call("/fail")
		call("/customers")
		call("/customers/7")
		// The log is written behind the proxy: poll the page.
		var b string
		for deadline := time.Now().Add(10 * time.Second); ; {
			b = page()
			// The figures and the list are two reads: a batch that lands
			// between them shows 4 rows beside the stats of 3. Wait for
			// both.
			if strings.Count(b, `<tr class="acct-call`) >= 4 && strings.Contains(b, "of 4 kept") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the calls never showed:\n%s", b)
			}
			<-time.After(10 * time.Millisecond) // poll
		}
		for _, want := range []string{"/customers/42", "/fail", "Key App", ">503<", ">200<", "25 % errors", "The newest 4 of 4 kept"} {
			if !strings.Contains(b, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if strings.Contains(b, "ada%40example.com") || strings.Contains(b, "email=") {
			t.Fatal("a query string reached the page")
		}
		if i := strings.Index(b, `id="api-calls"`); i < 0 || !strings.Contains(b[i:], "/customers/7") || strings.Index(b[i:], "/customers/7") > strings.Index(b[i:], "/customers/42") {
			t.Fatal("the calls are not listed newest first")
		}
	})
}
