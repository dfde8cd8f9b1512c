package http_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestHostedLinksEndWithTheirSessionToken: a hosted connect link made with a
// session token stops working when that token is revoked, or spent by a
// refresh (which revokes it), on both engines. Links made with the
// account's other tokens keep working.
func TestHostedLinksEndWithTheirSessionToken(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store, 0)
		f.do("POST", la, "a", map[string]any{"linked_account_id": "cust", "name": "Customer"})
		issue := func() (bearer, refresh string) {
			t.Helper()
			res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "cust"})
			if res.status != 200 {
				t.Fatalf("session token: %d %s", res.status, res.raw)
			}
			return "Bearer " + res.json["token"].(string), res.json["refresh_token"].(string)
		}
		opens := func(token string) int {
			t.Helper()
			return f.page("GET", token, "", nil).status
		}
		revoked, _ := issue()
		kept, _ := issue()
		rotated, refresh := issue()
		gone, stays, spent := f.connectURL(revoked, nil), f.connectURL(kept, nil), f.connectURL(rotated, nil)
		for _, link := range []string{gone, stays, spent} {
			if s := opens(link); s != 200 {
				t.Fatalf("a fresh link: %d", s)
			}
		}

		if res := f.do("POST", "/api/v2/public/session-token/revoke", revoked, nil); res.status != 200 || res.json["revoked_count"] != float64(1) {
			t.Fatalf("revoke: %d %s", res.status, res.raw)
		}
		if s := opens(gone); s != 404 {
			t.Fatalf("the link of a revoked session token answers %d, want 404", s)
		}
		if s := opens(stays); s != 200 {
			t.Fatalf("revoking one token ended the link of another: %d", s)
		}

		// A refresh revokes the old pair, and with it the old token's links.
		if res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"refresh_token": refresh}); res.status != 200 {
			t.Fatalf("refresh: %d %s", res.status, res.raw)
		}
		if s := opens(spent); s != 404 {
			t.Fatalf("the link of a refreshed (revoked) session token answers %d, want 404", s)
		}
		if s := opens(stays); s != 200 {
			t.Fatalf("a refresh ended another token's link: %d", s)
		}
	})
}
