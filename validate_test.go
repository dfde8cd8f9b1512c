package linkd

import (
	"encoding/json"
	"testing"
)

// TestValidateUDFNumberRange: numbers are accepted within float64's range
// only, so that both engines store them and every client decodes them.
func TestValidateUDFNumberRange(t *testing.T) {
	for v, ok := range map[string]bool{
		"0": true, "-0": true, "0.0e10": true, "42": true, "1.7976931348623157e308": true, "-2.5e-300": true, "5e-324": true,
		"1e999999": false, "-1e309": false, "1e-999999": false, "2e-400": false, "-0.0001e-400": false,
	} {
		err := ValidateUDF("n", json.RawMessage(v), false)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", v, err, ok)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("%s: code %s", v, ErrorCode(err))
		}
	}
}
