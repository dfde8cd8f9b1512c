package connect_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
)

// hangingProvider is a token endpoint that never answers: every request
// waits until its caller gives up.
type hangingProvider struct{}

func (hangingProvider) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestRefreshEndsWithinItsLease: a refresh is not heartbeated, so it must
// be over, and its lease released, well before the lease runs out, or
// another instance could lease the connection and send the same rotating
// refresh token while the first still waits for the provider. With the
// shortest lease, a provider that hangs is given up on after a quarter of
// the lease (not the token client's 30 s), the failure is recorded and
// the connection can be leased again, all within half the lease.
func TestRefreshEndsWithinItsLease(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s)
		ctx := t.Context()
		f.enable(t)
		if _, err := f.svc.Callback(ctx, f.authorize(t), nil); err != nil {
			t.Fatal(err)
		}
		_, conns, err := s.Connections(ctx, f.tenant, "cust")
		if err != nil || len(conns) != 1 || conns[0].TokenExpiresAt == nil {
			t.Fatalf("connection: %+v %v", conns, err)
		}
		f.svc.RefreshLease = connect.MinRefreshLease
		f.svc.HTTPClient = &http.Client{Transport: hangingProvider{}, Timeout: 30 * time.Second}
		f.now = conns[0].TokenExpiresAt.Add(-time.Minute)
		start := time.Now()
		n, err := connect.NewRefresher(f.svc, worker.Options{Owner: "test"}).Drain(ctx)
		took := time.Since(start)
		if err != nil || n != 1 {
			t.Fatalf("refresh: %d, %v", n, err)
		}
		if took < connect.MinRefreshLease/4 || took >= connect.MinRefreshLease/2 {
			t.Errorf("a refresh against a hanging provider took %s with a %s lease; want from a quarter to half of it", took, connect.MinRefreshLease)
		}
		_, conns, _ = s.Connections(ctx, f.tenant, "cust")
		if c := conns[0]; c.Status != linkd.ConnActive || c.RefreshFailures != 1 || !strings.Contains(c.LastRefreshError, "deadline") {
			t.Errorf("after the hanging refresh: %s, %d failures, %q", c.Status, c.RefreshFailures, c.LastRefreshError)
		}
		// The record released the lease: another owner may take it now,
		// long before the lease would have run out.
		c := linkd.Claim{Owner: "other", Now: f.now, Lease: connect.MinRefreshLease}
		if ok, err := s.LeaseRefresh(ctx, f.tenant, conns[0].ID, c, f.now.Add(time.Hour), f.now.Add(time.Second)); err != nil || !ok {
			t.Errorf("the lease after the refresh ended: %v %v, want free", ok, err)
		}
	})
}
