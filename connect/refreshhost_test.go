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

// hangingHost is a token endpoint that holds each request until the test
// ends or linkd gives up, counting the requests it holds.
type hangingHost struct {
	*httptest.Server
	open, most, calls atomic.Int64
	unstick           func() // ends the requests held, and holds no more
}

func newHangingHost(t *testing.T) *hangingHost {
	h := &hangingHost{}
	release := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		n := h.open.Add(1)
		defer h.open.Add(-1)
		for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	var once sync.Once
	h.unstick = func() { once.Do(func() { close(release); h.CloseClientConnections() }) }
	t.Cleanup(func() { h.unstick(); h.Close() })
	return h
}

// newFineHost is a token endpoint that answers every refresh at once.
func newFineHost(t *testing.T) *httptest.Server {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"fresh-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"r-fresh-%d"}`, n, n)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// refreshRig is a service whose catalog has an OAuth app per token
// endpoint given, and four tenants (two orgs) to connect accounts in.
type refreshRig struct {
	hanging  []*hangingHost
	s        linkd.Store
	svc      *connect.Service
	accounts *linkd.AccountService
	tenants  []linkd.Tenant
	now      time.Time
}

// newRefreshRig makes a rig with the endpoints given (app slug to URL),
// hanging ones among them.
func newRefreshRig(t *testing.T, s linkd.Store, endpoints map[string]string, hanging ...*hangingHost) *refreshRig {
	t.Helper()
	var yaml strings.Builder
	yaml.WriteString("apps:\n")
	for slug, u := range endpoints {
		fmt.Fprintf(&yaml, "  - slug: %s\n    name: %s\n    auth_type: oauth2\n    oauth2:\n      authorize_url: %s/authorize\n      token_url: %s/token\n      scopes: [read]\n      auth_style: header\n", slug, slug, u, u)
	}
	apps, err := catalog.Load(strings.NewReader(yaml.String()))
	if err != nil {
		t.Fatal(err)
	}
	accounts, first := dbtest.Accounts(t, s)
	svc := connect.NewService(s, accounts, apps, "http://linkd.test")
	svc.Owner = "test"
	tenants := []linkd.Tenant{first, {OrgID: first.OrgID, Env: linkd.EnvProduction}}
	org := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	tenants = append(tenants, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvProduction})
	return &refreshRig{hanging: hanging, s: s, svc: svc, accounts: accounts, tenants: tenants, now: time.Now()}
}

// connect makes account in tn, connected to slug with a token expiring
// at exp (the app enabled in tn first).
func (r *refreshRig) connect(t *testing.T, tn linkd.Tenant, account, slug string, exp time.Time) {
	t.Helper()
	ctx := t.Context()
	on, id, secret := true, "client", "secret"
	if _, err := r.svc.PutSettings(ctx, tn, "test", slug, connect.SettingsInput{Enabled: &on, ClientID: &id, ClientSecret: &secret}); err != nil {
		t.Fatal(err)
	}
	name := account
	if _, err := r.accounts.Create(ctx, tn, "test", linkd.AccountInput{AccountID: account, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Migrate(ctx, tn, "test", account, slug, connect.MigrateInput{AccessToken: "old", RefreshToken: "r-" + account, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
}

// run runs a refresher with owner until the test ends.
func (r *refreshRig) run(t *testing.T, owner string) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		connect.NewRefresher(r.svc, worker.Options{Owner: owner, Poll: 200 * time.Millisecond}).Run(ctx)
	})
	// A refresh runs to its end after the refresher stops (it may have
	// spent the refresh token): the hanging hosts let go first.
	t.Cleanup(func() {
		stop()
		for _, h := range r.hanging {
			h.unstick()
		}
		wg.Wait()
	})
}

// refreshed reports how many of accounts of tn were refreshed well.
func (r *refreshRig) refreshed(t *testing.T, tn linkd.Tenant, accounts []string) int {
	t.Helper()
	done := 0
	for _, a := range accounts {
		_, conns, err := r.s.Connections(t.Context(), tn, a)
		if err != nil || len(conns) != 1 {
			t.Fatalf("connections of %s: %v %v", a, conns, err)
		}
		if c := conns[0]; c.LastRefreshAt != nil && c.RefreshFailures == 0 && c.TokenExpiresAt.After(r.now.Add(30*time.Minute)) {
			done++
		}
	}
	return done
}

// waitRefreshed waits until every one of accounts of tn was refreshed,
// and fails the test with what hangs after within.
func (r *refreshRig) waitRefreshed(t *testing.T, tn linkd.Tenant, accounts []string, within time.Duration, hosts ...*hangingHost) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		done := r.refreshed(t, tn, accounts)
		if done == len(accounts) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%d of %d tokens of the healthy provider refreshed %v after the start, with %s hanging at the others",
				done, len(accounts), within, hanging(hosts))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hanging describes the requests hosts hold: now (and at most at once).
func hanging(hosts []*hangingHost) string {
	var b strings.Builder
	for i, h := range hosts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d (%d)", h.open.Load(), h.most.Load())
	}
	return b.String()
}

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
		stuck, fine := newHangingHost(t), newFineHost(t)
		r := newRefreshRig(t, s, map[string]string{"stuck": stuck.URL, "fine": fine.URL}, stuck)
		// Three tenants on the stuck provider, two due tokens each (more
		// than the refresher runs at once), all due before the fine
		// provider's three, which belong to a fourth tenant.
		for i := range 6 {
			r.connect(t, r.tenants[i%3], fmt.Sprint("stuck-", i), "stuck", r.now.Add(-2*time.Hour+time.Duration(i)*time.Second))
		}
		var fines []string
		for i := range 3 {
			fines = append(fines, fmt.Sprint("fine-", i))
			r.connect(t, r.tenants[3], fines[i], "fine", r.now.Add(-time.Hour+time.Duration(i)*time.Second))
		}
		r.run(t, "test")
		// The hanging refreshes last the token client's 30 s; the fine
		// provider's must not wait for them (nor for RefreshSlowAfter:
		// the host cap leaves them slots from the start).
		took := r.waitRefreshed(t, r.tenants[3], fines, connect.RefreshSlowAfter-time.Second, stuck)
		if stuck.open.Load() == 0 {
			t.Fatalf("no refresh was hanging when the healthy ones were done: the test proves nothing")
		}
		if m := stuck.most.Load(); m > connect.RefreshHostCap {
			t.Errorf("%d refreshes hung at one token endpoint at once; the cap is %d", m, connect.RefreshHostCap)
		}
		t.Logf("healthy provider: %d refreshes done %v after the start, with %d hanging at the stuck one (%d calls)",
			len(fines), took.Round(time.Millisecond), stuck.open.Load(), stuck.calls.Load())
	})
}

// TestRefresherIsolatesHangingHosts: no cap per host bounds what enough
// hanging hosts take: 2 hosts at RefreshHostCap fill the refresher's 4
// slots for the token client's 30 s. A refresh that runs past
// RefreshSlowAfter marks its host stalled and leaves its slot; the
// stalled hosts' refreshes then run in a lane of their own. With 3
// hosts hanging, due first, the healthy provider's tokens are refreshed
// within seconds, and the stalled hosts' refreshes go on in their lane.
func TestRefresherIsolatesHangingHosts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		hosts := []*hangingHost{newHangingHost(t), newHangingHost(t), newHangingHost(t)}
		fine := newFineHost(t)
		endpoints := map[string]string{"fine": fine.URL}
		for i, h := range hosts {
			endpoints[fmt.Sprint("hang", i)] = h.URL
		}
		r := newRefreshRig(t, s, endpoints, hosts...)
		// Each hanging host has a due token in each of three tenants,
		// all due before the healthy provider's.
		for i := range 9 {
			r.connect(t, r.tenants[i%3], fmt.Sprint("hang-", i), fmt.Sprint("hang", i%3), r.now.Add(-2*time.Hour+time.Duration(i)*time.Second))
		}
		var fines []string
		for i := range 4 {
			fines = append(fines, fmt.Sprint("fine-", i))
			r.connect(t, r.tenants[3], fines[i], "fine", r.now.Add(-time.Hour+time.Duration(i)*time.Second))
		}
		start := time.Now()
		r.run(t, "test")
		took := r.waitRefreshed(t, r.tenants[3], fines, connect.RefreshSlowAfter+5*time.Second, hosts...)
		open := int64(0)
		for _, h := range hosts {
			open += h.open.Load()
			if m := h.most.Load(); m > connect.RefreshHostCap {
				t.Errorf("%d refreshes hung at one token endpoint at once; the cap is %d", m, connect.RefreshHostCap)
			}
		}
		if open < 3 {
			t.Fatalf("%d refreshes hanging when the healthy ones were done: the test proves nothing", open)
		}
		t.Logf("healthy provider: %d refreshes done %v after the start, with refreshes hanging (most at once) at the 3 hosts: %s",
			len(fines), took.Round(time.Millisecond), hanging(hosts))
		// While the hosts stay stalled, the main lane stays the healthy
		// provider's: a token that falls due now is refreshed at the
		// next poll.
		r.connect(t, r.tenants[3], "fine-late", "fine", time.Now().Add(-time.Minute))
		late := r.waitRefreshed(t, r.tenants[3], []string{"fine-late"}, 3*time.Second, hosts...)
		t.Logf("a token due later: refreshed %v after it was added (%v after the start)", late.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	})
}

// TestRefresherCapsAHostAcrossInstances: two refreshers (two instances)
// on one database, each allowed RefreshHostCap refreshes per host, must
// not together send a provider twice that: the store counts the
// refreshes in flight per host, whoever holds them.
func TestRefresherCapsAHostAcrossInstances(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		stuck, fine := newHangingHost(t), newFineHost(t)
		r := newRefreshRig(t, s, map[string]string{"stuck": stuck.URL, "fine": fine.URL}, stuck)
		for i := range 8 {
			r.connect(t, r.tenants[i%3], fmt.Sprint("stuck-", i), "stuck", r.now.Add(-2*time.Hour+time.Duration(i)*time.Second))
		}
		var fines []string
		for i := range 4 {
			fines = append(fines, fmt.Sprint("fine-", i))
			r.connect(t, r.tenants[3], fines[i], "fine", r.now.Add(-time.Hour+time.Duration(i)*time.Second))
		}
		r.run(t, "instance-a")
		r.run(t, "instance-b")
		r.waitRefreshed(t, r.tenants[3], fines, connect.RefreshSlowAfter-time.Second, stuck)
		// Both instances have polled a few times by now, past the moment
		// the stuck host's refreshes would stall and move to their lane.
		time.Sleep(connect.RefreshSlowAfter + time.Second)
		if m := stuck.most.Load(); m > connect.RefreshHostCap {
			t.Fatalf("%d refreshes hung at one token endpoint at once with two instances; the cap is %d across them", m, connect.RefreshHostCap)
		}
		if stuck.open.Load() != connect.RefreshHostCap {
			t.Fatalf("%d refreshes hanging at the stuck host; want the cap, %d", stuck.open.Load(), connect.RefreshHostCap)
		}
		t.Logf("two instances: at most %d refreshes at once at the hanging host (%d calls)", stuck.most.Load(), stuck.calls.Load())
	})
}
