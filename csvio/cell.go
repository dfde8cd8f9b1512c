package csvio

import (
	"encoding/csv"
	"encoding/json"
	"io"

	"github.com/linkd-dev/linkd"
)

// CellValue types a UDF value typed into a form or a CSV cell: true, false
// and JSON numbers are themselves, a leading apostrophe forces text,
// anything else is text. The dashboard uses it so that a value means the
// same whether it was typed or imported.
func CellValue(c string) json.RawMessage { return cellValue(c) }

// CellText writes a UDF value as CellValue reads it back (text that looks
// like a number gets its apostrophe).
func CellText(v json.RawMessage) string { return udfCell(v) }

// WriteAccounts writes accts as CSV in the import format, with a column for
// every UDF key any of them has: the export of a selection.
func WriteAccounts(w io.Writer, accts []*linkd.LinkedAccount) error {
	keys := map[string]bool{}
	for _, a := range accts {
		for _, u := range a.UDF {
			keys[u.Key] = true
		}
	}
	sorted, rec := exportHeader(keys)
	cw := csv.NewWriter(w)
	cw.Write(rec)
	for _, a := range accts {
		rec[0], rec[1] = EscapeText(a.AccountID), EscapeText(a.Name)
		for i, k := range sorted {
			rec[2+i] = ""
			if v := a.UDFValue(k); v != nil {
				rec[2+i] = udfCell(v)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}
