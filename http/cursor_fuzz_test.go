package http

import (
	"testing"

	"github.com/linkd-dev/linkd"
)

// FuzzDecodeCursor: a paging cursor from a client is one this server made
// (it encodes back to itself and names an id) or an EINVALID error naming
// the cursor field.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{encodeCursor(linkd.NewID()), "", "abc", "%%%", "MDE5MmYwYjAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw", encodeCursor("not-a-uuid"), "AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeCursor(c)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		if encodeCursor(id) != c {
			t.Fatalf("cursor %q decodes to %q, which encodes to %q", c, id, encodeCursor(id))
		}
	})
}
