package linkd

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCallIDOrdersByStart: calls that start within one millisecond list in
// the order they started (TestProxyCallLog listed two loopback calls the
// wrong way round when only the millisecond counted), and an id never
// claims a later millisecond than its call's.
func TestCallIDOrdersByStart(t *testing.T) {
	base := time.Date(2026, 12, 7, 2, 51, 30, 603_000_000, time.UTC)
	prev := ""
	for i := range 3000 {
		at := base.Add(time.Duration(i) * 300 * time.Nanosecond)
		id := callID(at)
		if id <= prev {
			t.Fatalf("call %d at %v: id %s not after %s", i, at, id, prev)
		}
		prev = id
		u := uuid.MustParse(id)
		ms := int64(0)
		for _, b := range u[:6] {
			ms = ms<<8 | int64(b)
		}
		if u.Version() != 7 || ms != at.UnixMilli() {
			t.Fatalf("%s: version %d, millisecond %d, want %d", id, u.Version(), ms, at.UnixMilli())
		}
	}
}
