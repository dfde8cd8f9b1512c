package linkd

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
)

// Search (AccountFilter.Query) finds the accounts whose account id or name
// holds the query as a substring, without regard to case. Both stores keep a
// search text per account, SearchText of its id and name, and match the
// query folded by FoldSearch within it, so that they fold case alike: by
// Unicode full case folding (golang.org/x/text/cases.Fold), not by the
// engine's LOWER, which in SQLite folds ASCII only and in PostgreSQL depends
// on the database's locale. Full folding also matches "STRASSE" to
// "Straße".
//
// The stores index the search text by trigrams (SQLite FTS5, PostgreSQL
// pg_trgm). A query of fewer than MinIndexedQuery characters cannot use a
// trigram index: it is answered by reading the tenant's accounts in page
// order and testing each, which is quick when many accounts match (as a one-
// or two-character query usually does) and costs a scan of the tenant when
// few do.

// SearchSep separates the account id from the name in the search text. No
// id or name holds it (they have no control characters), so a query cannot
// match across the two.
const SearchSep = "\n"

// MinIndexedQuery is the length, in characters of the folded query, from
// which a trigram index can answer a search.
const MinIndexedQuery = 3

// SearchText is the stored search text of an account.
func SearchText(accountID, name string) string {
	return FoldSearch(accountID) + SearchSep + FoldSearch(name)
}

// FoldSearch folds s as SearchText folds ids and names, for matching.
func FoldSearch(s string) string {
	if isLowerASCII(s) {
		return s
	}
	return cases.Fold().String(s)
}

// SearchCanMatch reports whether the folded query q can match any search
// text at all: one that holds the separator cannot.
func SearchCanMatch(q string) bool { return !strings.Contains(q, SearchSep) }

// SearchIndexable reports whether the folded query q is long enough for a
// trigram index.
func SearchIndexable(q string) bool { return utf8.RuneCountInString(q) >= MinIndexedQuery }

// TrigramText is a search text (or a folded query) as PostgreSQL's trigram
// index holds it. pg_trgm takes trigrams within words only, a word being a
// run of letters and digits: a query across a space or a dash ("n pa",
// "f-a5") gave it the trigrams of its fragments, which hundreds of
// thousands of accounts held, and a search read most of the table to
// recheck them (0.3–2.9 s at a million accounts). Here every character
// but a–y and 0–9 is spelled in letters and digits, so the text is one
// word: the separators of ids and names in two letters (a space is "zs",
// a dash "zd", z itself "zz"), which add no trigram of their own, and any
// other character as zx, its code point in base 36, and z. Since each
// character is replaced on its own, a substring of a text maps to a
// substring of the text's TrigramText. The converse does not hold (a query
// may match across a character's spelling), so the store tests the search
// text itself as well.
func TrigramText(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = 'a' <= c && c <= 'y' || '0' <= c && c <= '9'
	}
	if plain {
		return s
	}
	b := make([]byte, 0, len(s)+len(s)/4)
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'y' || '0' <= r && r <= '9':
			b = append(b, byte(r))
		case trigramShort[r] != 0:
			b = append(b, 'z', trigramShort[r])
		default:
			b = append(b, 'z', 'x')
			b = strconv.AppendInt(b, int64(r), 36)
			b = append(b, 'z')
		}
	}
	return string(b)
}

// trigramShort spells the characters that ids and names hold most in two
// letters (TrigramText).
var trigramShort = map[rune]byte{'z': 'z', ' ': 's', '-': 'd', '\n': 'n', '_': 'u', '.': 'p', '@': 'a', ',': 'c', '&': 'e', '\'': 'q'}

// isLowerASCII reports whether folding leaves s as it is, cheaply: most ids
// are lower-case ASCII.
func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
