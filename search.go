package linkd

import (
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
