package linkd_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// FuzzTrigramText checks the property PostgreSQL's search relies on: a
// substring of a text maps to a substring of the text's TrigramText, so
// the trigram index never misses a match; and the result is a single
// pg_trgm word (only a–z and 0–9).
func FuzzTrigramText(f *testing.F) {
	f.Add("3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8\nolivia smith labs", 10, 20)
	f.Add("straße zürich – 東京\nz", 0, 5)
	f.Add("zz~z", 1, 3)
	f.Fuzz(func(t *testing.T, s string, i, j int) {
		if !utf8.ValidString(s) {
			return
		}
		runes := []rune(s)
		if len(runes) == 0 {
			return
		}
		i, j = abs(i)%len(runes), abs(j)%len(runes)
		if i > j {
			i, j = j, i
		}
		q := string(runes[i : j+1])
		text, enc := linkd.TrigramText(s), linkd.TrigramText(q)
		if !strings.Contains(text, enc) {
			t.Fatalf("%q is in %q, but %q is not in %q", q, s, enc, text)
		}
		for _, c := range []byte(text) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				t.Fatalf("TrigramText(%q) = %q holds %q", s, text, c)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // the smallest int
			return 0
		}
		return -n
	}
	return n
}

func TestTrigramText(t *testing.T) {
	for in, want := range map[string]string{
		"olivia":   "olivia",
		"n pa":     "nzspa",
		"f-a5":     "fzda5",
		"z":        "zz",
		"é":        "zx6hz",
		"a\nb":     "aznb",
		"":         "",
		"acme_co.": "acmezucozp",
		"a~b":      "azx3izb",
	} {
		if got := linkd.TrigramText(in); got != want {
			t.Errorf("TrigramText(%q) = %q, want %q", in, got, want)
		}
	}
}
