package linkd

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestUDFPlanner: the rarest filter drives; counts are reused within the
// TTL, per tenant and filter, asked again after it, and errors are not
// remembered; the cache stays within Max.
func TestUDFPlanner(t *testing.T) {
	rows := map[UDFMatch]int{{"plan", "pro"}: 300000, {"region", "eu"}: 50000, {"vip", "true"}: 12}
	var asked []UDFMatch
	fail := false
	now := time.Unix(1000, 0)
	p := &UDFPlanner{TTL: 5 * time.Second, Max: 4, Now: func() time.Time { return now },
		Count: func(_ context.Context, _ Tenant, m UDFMatch, limit int) (int, error) {
			if fail {
				return 0, errors.New("db down")
			}
			asked = append(asked, m)
			return min(rows[m], limit), nil
		}}
	ctx := context.Background()
	a, b := Tenant{OrgID: "a", Env: EnvTest}, Tenant{OrgID: "b", Env: EnvTest}
	pick := func(tn Tenant, ms ...UDFMatch) int {
		t.Helper()
		i, err := p.Rarest(ctx, tn, ms)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	if i := pick(a, UDFMatch{"plan", "pro"}, UDFMatch{"region", "eu"}); i != 1 {
		t.Fatalf("picked %d, want the region filter", i)
	}
	if i := pick(a, UDFMatch{"region", "eu"}, UDFMatch{"plan", "pro"}, UDFMatch{"vip", "true"}); i != 2 {
		t.Fatalf("picked %d, want the vip filter", i)
	}
	if len(asked) != 3 {
		t.Fatalf("counted %v: the second list should reuse two counts", asked)
	}
	if i := pick(a, UDFMatch{"plan", "pro"}); i != 0 || len(asked) != 3 {
		t.Fatalf("one filter: picked %d after %d counts, want 0 without counting", i, len(asked))
	}
	// Another tenant's counts are its own.
	pick(b, UDFMatch{"plan", "pro"}, UDFMatch{"region", "eu"})
	if len(asked) != 5 {
		t.Fatalf("another tenant reused a's counts: %v", asked)
	}
	// Past the TTL, counted again; the cache keeps within Max.
	now = now.Add(6 * time.Second)
	pick(a, UDFMatch{"plan", "pro"}, UDFMatch{"region", "eu"})
	if len(asked) != 7 {
		t.Fatalf("a stale count was reused: %v", asked)
	}
	if n := len(p.counts); n > p.Max {
		t.Fatalf("%d counts kept, Max %d", n, p.Max)
	}
	// A failed count fails the plan and is not remembered.
	now = now.Add(6 * time.Second)
	fail = true
	if _, err := p.Rarest(ctx, a, []UDFMatch{{"plan", "pro"}, {"region", "eu"}}); err == nil {
		t.Fatal("a failed count was not reported")
	}
	fail = false
	if i := pick(a, UDFMatch{"plan", "pro"}, UDFMatch{"region", "eu"}); i != 1 {
		t.Fatalf("after the failure picked %d", i)
	}
}
