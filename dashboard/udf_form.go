package dashboard

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// udfRow is one name/value row of a UDF editor, with its errors.
type udfRow struct {
	Key, Value           string
	KeyError, ValueError string
}

// udfRowsForm reads a UDF editor's rows from a posted form (udf_key and
// udf_value, in order) and applies its row buttons: "add_udf" adds an empty
// row, "remove_udf:N" removes row N. edited tells that one of them was
// pressed, so the form is shown again instead of saved: without
// JavaScript, that is how rows are added and removed.
func udfRowsForm(form url.Values) (rows []udfRow, edited bool) {
	keys, values := form["udf_key"], form["udf_value"]
	for i := range max(len(keys), len(values)) {
		var row udfRow
		if i < len(keys) {
			row.Key = keys[i]
		}
		if i < len(values) {
			row.Value = values[i]
		}
		rows = append(rows, row)
	}
	switch action := form.Get("action"); {
	case action == "add_udf":
		return append(rows, udfRow{}), true
	case strings.HasPrefix(action, "remove_udf:"):
		if i, err := strconv.Atoi(strings.TrimPrefix(action, "remove_udf:")); err == nil && i >= 0 && i < len(rows) {
			rows = slices.Delete(rows, i, i+1)
		}
		return rows, true
	}
	return rows, false
}

// udfFromRows turns a UDF editor's rows into the fields to save, typed as
// CSV cells are (csvio.CellValue). Blank rows are skipped; a row without a
// name, a name used twice, or a name or value the domain refuses gets its
// error on the row, and bad is set. seen maps each name to its row.
func udfFromRows(rows []udfRow) (udf map[string]json.RawMessage, seen map[string]int, bad bool) {
	udf, seen = map[string]json.RawMessage{}, map[string]int{}
	for i := range rows {
		row := &rows[i]
		k := strings.TrimSpace(row.Key)
		if k == "" && row.Value == "" {
			continue // a blank row is no field
		}
		if k == "" {
			row.KeyError, bad = "Give the field a name.", true
			continue
		}
		if j, dup := seen[k]; dup {
			row.KeyError, bad = "The field "+k+" is already on row "+strconv.Itoa(j+1)+".", true
			continue
		}
		seen[k] = i
		if err := linkd.ValidateUDF(k, json.RawMessage(`""`), false); err != nil {
			row.KeyError, bad = udfMessage(err, k, "The name"), true
			continue
		}
		v := csvio.CellValue(row.Value)
		if err := linkd.ValidateUDF(k, v, false); err != nil {
			row.ValueError, bad = udfMessage(err, k, "The value"), true
			continue
		}
		udf[k] = v
	}
	return udf, seen, bad
}

// udfMessage turns the service's message about field "udf.KEY" into one
// about the form's name or value input.
func udfMessage(err error, key, subject string) string {
	msg := linkd.ErrorMessage(err)
	if rest, ok := strings.CutPrefix(msg, "udf."+key+" "); ok {
		return subject + " " + rest + "."
	}
	return msg
}
