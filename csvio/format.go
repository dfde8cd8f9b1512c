// Package csvio reads and writes linked accounts as CSV: the streaming
// importer that runs import jobs (upload.go, runner.go) and the exporter
// (export.go). The format is documented in docs/csv.md:
//
//   - UTF-8 (an optional BOM), UTF-16 with a BOM, or Windows-1252 when
//     asked; RFC 4180 with , ; tab or | (detected from the header); a
//     header row; \n or \r\n (dialect.go);
//   - columns linked_account_id (required), name, and udf.<key> per field,
//     matched ignoring case and spaces, with aliases, or placed by a
//     mapping;
//   - an empty UDF cell means "not set";
//   - a UDF cell that is exactly true, false or a JSON number is that
//     value, anything else a string;
//   - a cell starting with an apostrophe is the literal text after it. The
//     exporter writes one before text that a spreadsheet would run as a
//     formula (= + - @ tab CR), before text that would read back as a number
//     or boolean, and before text that starts with an apostrophe, so that
//     export → import gives back exactly what was exported.
package csvio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/linkd-dev/linkd"
)

// Column names.
const (
	ColID   = linkd.ColumnAccountID
	ColName = linkd.ColumnName
	udfPre  = "udf."
)

// MaxUDFColumns bounds the UDF columns of a file, as the API bounds the keys
// of one account.
const MaxUDFColumns = linkd.MaxUDFKeys

// layout is a validated header: where each column's values go.
type layout struct {
	columns []string
	id      int
	name    int      // -1 when absent
	udf     []string // key per column; "" for non-UDF columns
	// mapping is what each column was read as: the user's mapping plus
	// what matchColumn found, so a job stores the complete picture.
	mapping map[string]string
}

// maxMapping bounds a mapping's entries: a header has at most this many
// columns worth naming.
const maxMapping = 1000

// CheckMapping validates a mapping's targets before any of the file is
// read: each is linked_account_id, name, ignore or udf.<key> with a valid
// key. Whether its columns exist is known only once the header is read.
func CheckMapping(m map[string]string) error {
	if len(m) > maxMapping {
		return linkd.FieldError("mapping", "the mapping has %d columns; at most %d are allowed", len(m), maxMapping)
	}
	for col, target := range m {
		if err := checkTarget(target); err != nil {
			return linkd.FieldError("mapping", "column %q: %s", col, err)
		}
	}
	return nil
}

func checkTarget(target string) error {
	switch {
	case target == ColID, target == ColName, target == linkd.ColumnIgnore:
		return nil
	case strings.HasPrefix(target, udfPre):
		if err := linkd.ValidateUDF(target[len(udfPre):], json.RawMessage(`""`), false); err != nil {
			return errors.New(linkd.ErrorMessage(err))
		}
		return nil
	}
	return fmt.Errorf("target %q must be linked_account_id, name, udf.<key> or ignore", target)
}

// columnAliases are the names people give the known columns, written as
// matchKey writes them: the dashboard's own labels and the usual spreadsheet
// headings.
var columnAliases = map[string]string{
	"linkedaccountid": ColID,
	"accountid":       ColID,
	"id":              ColID,
	"name":            ColName,
	"accountname":     ColName,
}

// matchKey folds a heading for matching: case, spaces and underscores do
// not count, so "Linked Account ID" and "linked_account_id" are one.
func matchKey(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if r == '_' || unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// matchColumn is the target a heading names by itself, or "" when it names
// none. A udf. prefix matches in any case but the key after it is kept
// exactly: UDF keys are case-sensitive.
func matchColumn(h string) string {
	t := strings.TrimLeftFunc(h, unicode.IsSpace)
	if len(t) > len(udfPre) && strings.EqualFold(t[:len(udfPre)], udfPre) {
		return udfPre + t[len(udfPre):]
	}
	if len(t) == len(udfPre) && strings.EqualFold(t, udfPre) {
		return udfPre // an empty key: refused by the key check with its reason
	}
	return columnAliases[matchKey(h)]
}

// parseHeader validates a header row read with mapping (header -> target;
// nil for none): a mapped column goes where the mapping says, any other
// where matchColumn says. A column that is neither is an error naming it:
// silently dropping a misspelt column would lose data, and making it a UDF
// unasked would invent fields.
func parseHeader(cols []string, mapping map[string]string) (*layout, error) {
	l := &layout{columns: append([]string(nil), cols...), id: -1, name: -1, udf: make([]string, len(cols)),
		mapping: make(map[string]string, len(cols))}
	if err := CheckMapping(mapping); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	holder := map[string]string{} // target -> the column holding it
	var unknown []string
	nUDF := 0
	for i, c := range cols {
		if seen[c] {
			return nil, linkd.FieldError("header", "column %q appears twice in the header", c)
		}
		seen[c] = true
		target, mapped := mapping[c]
		if !mapped {
			target = matchColumn(c)
		}
		if target == "" {
			unknown = append(unknown, fmt.Sprintf("%q", c))
			continue
		}
		field := "header"
		if mapped {
			field = "mapping"
		}
		if target != linkd.ColumnIgnore {
			if prev, ok := holder[target]; ok {
				return nil, linkd.FieldError(field, "columns %q and %q are both read as %s; map one of them elsewhere or to ignore", prev, c, target)
			}
			holder[target] = c
		}
		l.mapping[c] = target
		switch {
		case target == ColID:
			l.id = i
		case target == ColName:
			l.name = i
		case strings.HasPrefix(target, udfPre):
			key := target[len(udfPre):]
			if err := linkd.ValidateUDF(key, json.RawMessage(`""`), false); err != nil {
				return nil, linkd.FieldError(field, "column %q: %s", c, linkd.ErrorMessage(err))
			}
			l.udf[i] = key
			nUDF++
		}
	}
	for c := range mapping {
		if !seen[c] {
			return nil, linkd.FieldError("mapping", "the mapping names column %q, which the header does not have", c)
		}
	}
	if len(unknown) > 0 {
		return nil, linkd.FieldError("header", "unknown column(s) %s: columns are linked_account_id, name and udf.<key>; "+
			"map the others with mapping (column -> linked_account_id, name, udf.<key> or ignore)", strings.Join(unknown, ", "))
	}
	if l.id < 0 {
		return nil, linkd.FieldError("header", "the header has no linked_account_id column (the first row must be the header)")
	}
	if nUDF > MaxUDFColumns {
		return nil, linkd.FieldError("header", "the header has %d udf columns; at most %d are allowed", nUDF, MaxUDFColumns)
	}
	return l, nil
}

// row turns a record into an account input, or the row error explaining why
// it cannot be imported. The checks are the API's (AccountInput.Validate).
func (l *layout) row(num int64, rec []string) (linkd.AccountInput, *linkd.ImportRowError) {
	var in linkd.AccountInput
	fail := func(col, format string, args ...any) (linkd.AccountInput, *linkd.ImportRowError) {
		return in, &linkd.ImportRowError{Row: num, Column: col, AccountID: in.AccountID, Message: fmt.Sprintf(format, args...)}
	}
	if len(rec) != len(l.columns) {
		if l.id < len(rec) {
			in.AccountID = unescapeText(rec[l.id])
		}
		return fail("", "row has %d fields; the header has %d", len(rec), len(l.columns))
	}
	in.AccountID = unescapeText(rec[l.id])
	if l.name >= 0 && rec[l.name] != "" {
		name := unescapeText(rec[l.name])
		in.Name = &name
	}
	for i, key := range l.udf {
		if key == "" || rec[i] == "" {
			continue
		}
		if in.UDF == nil {
			in.UDF = make(map[string]json.RawMessage, len(l.udf))
		}
		in.UDF[key] = cellValue(rec[i])
	}
	if err := in.Validate(false); err != nil {
		var e *linkd.Error
		col := ""
		if errors.As(err, &e) {
			col = e.Field
		}
		return fail(col, "%s", linkd.ErrorMessage(err))
	}
	return in, nil
}

// cellValue types a UDF cell: true, false and JSON numbers are themselves,
// an apostrophe forces text, anything else is text.
func cellValue(c string) json.RawMessage {
	if strings.HasPrefix(c, "'") {
		return json.RawMessage(linkd.QuoteUDF(c[1:]))
	}
	if c == "true" || c == "false" || isJSONNumber(c) {
		return json.RawMessage(c)
	}
	return json.RawMessage(linkd.QuoteUDF(c))
}

// unescapeText reverses the exporter's apostrophe for text cells.
func unescapeText(c string) string {
	return strings.TrimPrefix(c, "'")
}

// isJSONNumber reports whether s is a number literal as JSON writes them.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// EscapeText writes text so that import reads it back as the same text and a
// spreadsheet never runs it as a formula.
func EscapeText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// udfCell writes a UDF value: numbers and booleans as their literal, text
// escaped so it does not read back as a number or boolean.
func udfCell(v json.RawMessage) string {
	if len(v) > 0 && v[0] == '"' {
		s := linkd.UDFText(v)
		if s == "" || s == "true" || s == "false" || isJSONNumber(s) {
			return "'" + s
		}
		return EscapeText(s)
	}
	return string(v)
}
