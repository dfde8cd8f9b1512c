package http_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestUDFNumberRange: a UDF number outside float64's range answers 400
// naming the field on both engines (PostgreSQL answered 500), and in a CSV
// import is an error of its row while the batch's other rows import and
// the job succeeds (PostgreSQL failed the whole batch and the job).
func TestUDFNumberRange(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store, 0)
		for _, n := range []string{"1e999999", "-1e309", "1e-999999"} {
			for _, method := range []string{"POST", "PUT"} {
				body := `{"linked_account_id":"big","udf":{"seats":` + n + `}}`
				res := f.do(method, la, "a", []byte(body))
				if res.status != 400 || res.json["field"] != "udf.seats" {
					t.Errorf("%s %s: %d %s, want 400 naming udf.seats", method, n, res.status, res.raw)
				}
			}
		}
		// Large and small numbers inside the range are kept as sent.
		res := f.do("POST", la, "a", []byte(`{"linked_account_id":"ok","udf":{"big":1.7e308,"small":-2.5e-300,"zero":0.000e5}}`))
		if res.status != 200 {
			t.Fatalf("numbers in range: %d %s", res.status, res.raw)
		}

		csv := "linked_account_id,name,udf.seats\nr1,Row one,5\nr2,Row two,1e999999\nr3,Row three,7\n"
		res = f.do("POST", la+"/import?mode=upsert", "a", []byte(csv))
		if res.status != 202 {
			t.Fatalf("import: %d %s", res.status, res.raw)
		}
		id := res.json["_id"].(string)
		f.runJobs()
		res = f.do("GET", la+"/import/"+id, "a", nil)
		match(t, "job", res.json, map[string]any{"state": "succeeded", "created": 2, "failed": 1})
		errs, _ := res.json["errors"].([]any)
		if len(errs) != 1 {
			t.Fatalf("errors: %s", res.raw)
		}
		match(t, "row error", errs[0].(map[string]any), map[string]any{"row": 3, "column": "udf.seats", "linked_account_id": "r2"})
		for _, id := range []string{"r1", "r3"} {
			if res := f.do("GET", la+"/"+id, "a", nil); res.status != 200 {
				t.Errorf("%s of the same batch was not imported: %d", id, res.status)
			}
		}
	})
}
