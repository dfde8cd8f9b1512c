// Package csvio reads and writes linked accounts as CSV: the streaming
// importer that runs import jobs (upload.go, runner.go) and the exporter
// (export.go). The format is documented in docs/csv.md:
//
//   - UTF-8 (an optional BOM), RFC 4180, a header row, \n or \r\n;
//   - columns linked_account_id (required), name, and udf.<key> per field;
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

	"github.com/linkd-dev/linkd"
)

// Column names.
const (
	ColID   = "linked_account_id"
	ColName = "name"
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
}

// parseHeader validates a header row. Unknown columns are an error that names
// them: silently dropping a misspelt column would lose data.
func parseHeader(cols []string) (*layout, error) {
	l := &layout{columns: append([]string(nil), cols...), id: -1, name: -1, udf: make([]string, len(cols))}
	seen := map[string]bool{}
	var unknown []string
	nUDF := 0
	for i, c := range cols {
		if seen[c] {
			return nil, linkd.FieldError("header", "column %q appears twice in the header", c)
		}
		seen[c] = true
		switch {
		case c == ColID:
			l.id = i
		case c == ColName:
			l.name = i
		case strings.HasPrefix(c, udfPre):
			key := c[len(udfPre):]
			if err := linkd.ValidateUDF(key, json.RawMessage(`""`), false); err != nil {
				return nil, linkd.FieldError("header", "column %q: %s", c, linkd.ErrorMessage(err))
			}
			l.udf[i] = key
			nUDF++
		default:
			unknown = append(unknown, fmt.Sprintf("%q", c))
		}
	}
	if len(unknown) > 0 {
		return nil, linkd.FieldError("header", "unknown column(s) %s: columns are linked_account_id, name and udf.<key>", strings.Join(unknown, ", "))
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
