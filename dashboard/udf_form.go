package dashboard

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
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
