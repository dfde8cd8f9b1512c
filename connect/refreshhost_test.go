package connect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
)

// TestRefresherCapsATokenHost: a provider whose token endpoint hangs for
// every tenant at once (an outage) must not take every refresher slot. The
// tenant cap does not help there: with 3 tenants on that provider, 2
// refreshes of each would fill all 4 slots for the token client's 30 s,
// over and over, while another provider's tokens expire. With at most
// RefreshHostCap refreshes per token endpoint host, the other provider's
// due tokens are refreshed at once, though they fell due after the
// hanging ones.
func TestRefresherCapsATokenHost(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		ctx := t.Context()
		// The stuck provider holds each request until the test ends or
		// linkd gives up; the fine one answers at once.
		release := make(chan struct{})
		var stuckOpen, stuckMost, stuckCalls atomic.Int64
		stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stuckCalls.Add(1)
			n := stuckOpen.Add(1)
			defer stuckOpen.Add(-1)
			for m := stuckMost.Load(); n > m && !stuckMost.CompareAndSwap(m, n); m = stuckMost.Load() {
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		var fineCalls atomic.Int64
		fine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := fineCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"fresh-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"r-fresh-%d"}`, n, n)
		}))
		var releaseOnce sync.Once
		unstick := func() { releaseOnce.Do(func() { close(release); stuck.CloseClientConnections() }) }
		t.Cleanup(func() { unstick(); stuck.Close(); fine.Close() })

		var yaml strings.Builder
		yaml.WriteString("apps:\n")
		for slug, u := range map[string]string{"stuck": stuck.URL, "fine": fine.URL} {
			fmt.Fprintf(&yaml, "  - slug: %s\n    name: %s\n    auth_type: oauth2\n    oauth2:\n      authorize_url: %s/authorize\n      token_url: %s/token\n      scopes: [read]\n      auth_style: header\n", slug, slug, u, u)
		}
		apps, err := catalog.Load(strings.NewReader(yaml.String()))
		if err != nil {
			t.Fatal(err)
		}
		accounts, first := dbtest.Accounts(t, s)
		svc := connect.NewService(s, accounts, apps, "http://linkd.test")
		svc.Owner = "test"

		// Three tenants on the stuck provider, two due tokens each (more
		// than the refresher runs at once), all due before the fine
		// provider's three, which belong to a fourth tenant.
		tenants := []linkd.Tenant{first, {OrgID: first.OrgID, Env: linkd.EnvProduction}}
		org := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now().UTC()}
		if err := s.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvProduction})
		on, id, secret := true, "client", "secret"
		now := time.Now()
		connectTo := func(tn linkd.Tenant, account, slug string, exp time.Time) {
			t.Helper()
			if _, err := svc.PutSettings(ctx, tn, "test", slug, connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
				t.Fatal(err)
			}
			name := account
			if _, err := accounts.Create(ctx, tn, "test", linkd.AccountInput{AccountID: account, Name: &name}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Migrate(ctx, tn, "test", account, slug, connect.MigrateInput{AccessToken: "old", RefreshToken: "r-" + account, ExpiresAt: &exp}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 6 {
			connectTo(tenants[i%3], fmt.Sprint("stuck-", i), "stuck", now.Add(-2*time.Hour+time.Duration(i)*time.Second))
		}
		const fines = 3
		for i := range fines {
			connectTo(tenants[3], fmt.Sprint("fine-", i), "fine", now.Add(-time.Hour+time.Duration(i)*time.Second))
		}

		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			connect.NewRefresher(svc, worker.Options{Owner: "test", Poll: 200 * time.Millisecond}).Run(runCtx)
		})
		defer func() { stop(); unstick(); wg.Wait() }()

		start := time.Now()
		// The hanging refreshes last the token client's 30 s; the fine
		// provider's must not wait for them.
		const within = 10 * time.Second
		for {
			done := 0
			for i := range fines {
				_, conns, err := s.Connections(ctx, tenants[3], fmt.Sprint("fine-", i))
				if err != nil || len(conns) != 1 {
					t.Fatalf("connections of fine-%d: %v %v", i, conns, err)
				}
				if c := conns[0]; c.LastRefreshAt != nil && c.RefreshFailures == 0 && c.TokenExpiresAt.After(now.Add(30*time.Minute)) {
					done++
				}
			}
			if done == fines {
				break
			}
			if time.Since(start) > within {
				t.Fatalf("%d of %d tokens of the healthy provider refreshed %v after the start, with %d refreshes hanging at the other (the most at once: %d)",
					done, fines, within, stuckOpen.Load(), stuckMost.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		if stuckOpen.Load() == 0 {
			t.Fatalf("no refresh was hanging when the healthy ones were done: the test proves nothing")
		}
		if m := stuckMost.Load(); m > connect.RefreshHostCap {
			t.Errorf("%d refreshes hung at one token endpoint at once; the cap is %d", m, connect.RefreshHostCap)
		}
		t.Logf("healthy provider: %d refreshes done %v after the start, with %d hanging at the stuck one (%d calls)",
			fines, took.Round(time.Millisecond), stuckOpen.Load(), stuckCalls.Load())
	})
}
