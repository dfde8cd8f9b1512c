package http_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestIDsRefuseControlBidiAndInvalidUTF8: an id with a control or bidi
// character, or invalid UTF-8 (which JSON decoding silently replaced with
// U+FFFD, making another valid id), answers 400 naming the field, in a
// body, a path, a header or a query (issue 9, item 19).
func TestIDsRefuseControlBidiAndInvalidUTF8(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store, 0)
		f.do("POST", la, "a", map[string]any{"linked_account_id": "known"})
		bad := map[string]string{
			"invalid UTF-8":       "a\xffb",
			"truncated UTF-8":     "ab\xe2\x80",
			"lone surrogate":      `a\ud800b`, // a JSON escape: only in bodies
			"replacement char":    "a\ufffdb",
			"right-to-left":       "a\u202eb",
			"bidi isolate":        "a\u2066b\u2069",
			"right-to-left mark":  "a\u200fb",
			"arabic letter mark":  "a\u061cb",
			"control":             "a\u0007b",
			"NUL":                 "a\x00b",
			"zero width no-break": "a\ufeffb",
		}
		for name, id := range bad {
			quoted := `"` + id + `"` // invalid UTF-8 as raw bytes, the surrogate as its escape
			if utf8.ValidString(id) && name != "lone surrogate" {
				b, _ := json.Marshal(id)
				quoted = string(b)
			}
			body := []byte(`{"linked_account_id":` + quoted + `,"name":"x"}`)
			for _, method := range []string{"POST", "PUT"} {
				res := f.do(method, la, "a", body)
				if res.status != 400 || res.json["field"] != "linked_account_id" {
					t.Errorf("%s %s in the body: %d %s", method, name, res.status, res.raw)
				}
			}
			if name == "lone surrogate" {
				continue
			}
			if res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": id}); res.status != 400 || res.json["field"] != "linked_account_id" {
				t.Errorf("%s in a session-token request: %d %s", name, res.status, res.raw)
			}
			if res := f.do("GET", la+"/"+url.PathEscape(id), "a", nil); res.status != 400 || res.json["field"] != "linked_account_id" {
				t.Errorf("%s in the path: %d %s", name, res.status, res.raw)
			}
			if res := f.do("GET", "/api/v2/public/audit?linked_account_id="+url.QueryEscape(id), "a", nil); res.status != 400 || res.json["field"] != "linked_account_id" {
				t.Errorf("%s in the query: %d %s", name, res.status, res.raw)
			}
			// (Go's client refuses to send a header with a control character.)
			if name != "NUL" && name != "control" {
				if res := f.do("GET", "/api/v2/public/slug/stripe/config", "a", nil, "linked_account_id", id); res.status != 400 || res.json["field"] != "linked_account_id" {
					t.Errorf("%s in the header: %d %s", name, res.status, res.raw)
				}
			}
			if res := f.do("PUT", la, "a", map[string]any{"linked_account_id": "known", "udf": map[string]any{"k" + id: 1}}); res.status != 400 || res.json["field"] == nil {
				t.Errorf("%s in a udf key: %d %s", name, res.status, res.raw)
			}
		}
		// None of them was created under a replaced id.
		if res := f.do("GET", la, "a", nil); res.json["totalDocs"] != float64(1) {
			t.Fatalf("accounts after refused ids: %s", res.raw)
		}
	})
}

// TestJSONAnswersNoSniff: every JSON answer tells browsers not to guess
// its type: successes, errors, unknown routes, replays and the OpenAPI
// document (issue 9, item 19).
func TestJSONAnswersNoSniff(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t), 0)
	for _, res := range []response{
		f.do("POST", la, "a", map[string]any{"linked_account_id": "n1"}, "Idempotency-Key", "k"),
		f.do("POST", la, "a", map[string]any{"linked_account_id": "n1"}, "Idempotency-Key", "k"),
		f.do("GET", la+"/n1", "a", nil),
		f.do("GET", la+"/nobody", "a", nil),
		f.do("GET", la, "", nil),
		f.do("GET", "/api/v2/nowhere", "a", nil),
		f.do("PATCH", la, "a", nil),
		f.do("GET", "/openapi.json", "", nil),
		f.do("GET", "/healthz", "", nil),
	} {
		if res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%d %.80s: X-Content-Type-Options %q", res.status, res.raw, res.header.Get("X-Content-Type-Options"))
		}
	}
}
