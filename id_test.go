package linkd

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestNewIDAtOrdered checks that ids follow creation order even within one
// millisecond, and that an id's timestamp is never before its time: the
// account list pages in id order and filters creation times by id.
func TestNewIDAtOrdered(t *testing.T) {
	base := time.Date(2026, 11, 27, 12, 0, 0, 999_000_000, time.UTC) // the last ms of a second
	prev := ""
	for i := range 10_000 {
		at := base.Add(time.Duration(i%7) * 100 * time.Microsecond) // many ids per millisecond, times going back and forth
		id := NewIDAt(at)
		if id <= prev {
			t.Fatalf("id %d: %s after %s: not increasing", i, id, prev)
		}
		prev = id
		u := uuid.MustParse(id)
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d, variant %v", id, u.Version(), u.Variant())
		}
		ms := int64(0)
		for _, b := range u[:6] {
			ms = ms<<8 | int64(b)
		}
		if ms < at.UnixMilli() {
			t.Fatalf("%s has millisecond %d, before its time %d", id, ms, at.UnixMilli())
		}
		if id < IDBound(at, false) {
			t.Fatalf("%s is below the lower id bound of its own millisecond", id)
		}
	}
}

// TestNewIDIncreases: ids made one after another in a process only
// increase, even many within a millisecond, so tests and lists that order
// by id need no sleep between writes.
func TestNewIDIncreases(t *testing.T) {
	prev := NewID()
	for i := range 100_000 {
		id := NewID()
		if id <= prev {
			t.Fatalf("id %d: %s after %s", i, id, prev)
		}
		prev = id
	}
}
