package http

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/linkd-dev/linkd"
)

// FuzzDecodeAccountInput feeds arbitrary bodies to the create/upsert decoder
// and validation. Whatever arrives, the answer is a valid input or an
// EINVALID error that names a field: never a panic, never an internal error.
func FuzzDecodeAccountInput(f *testing.F) {
	for _, s := range []string{
		`{"linked_account_id":"user_1","name":"Acme","udf":{"plan":"pro","seats":3,"vip":true}}`,
		`{"account_id":"a","your_app":{"auth_credentials":{"k":"v"}}}`,
		`{"payload":{"linked_account_id":"p","udf":[{"key_name":"a","key_value":null}]}}`,
		`{"udf":[{"key_name":"a"},{"key_name":"a"}]}`,
		`{"linked_account_id":"\u0000"}`, `[]`, `null`, `{"udf":{"a":{"b":1}}}`, `{"name":1e999}`,
		`{"linked_account_id":"x","your_app":{"auth_credentials":null}}`, `{"payload":"str"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeAccountInput(body)
		if err == nil {
			for _, allowNull := range []bool{false, true} {
				if verr := in.Validate(allowNull); verr != nil {
					checkFieldError(t, verr)
				}
			}
			if in.Credentials != nil && !json.Valid(in.Credentials) {
				t.Fatalf("credentials %q are not JSON", in.Credentials)
			}
			return
		}
		checkFieldError(t, err)
	})
}

// FuzzParseAccountFilter does the same for the list query string.
func FuzzParseAccountFilter(f *testing.F) {
	for _, s := range []string{
		"page=2&limit=50", "cursor=MDE5MmYwYjAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw", "q=acme&udf.plan=pro&order=desc",
		"created_after=2024-01-01&created_before=2024-02-01T00:00:00Z", "limit=-1", "udf.=x", "page=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, _, err := parseAccountFilter(q)
		if err != nil {
			checkFieldError(t, err)
			return
		}
		if fl.Limit < 1 || fl.Limit > linkd.MaxPageLimit || fl.Offset < 0 || fl.Offset > maxOffset {
			t.Fatalf("accepted out-of-range paging: %+v", fl)
		}
	})
}

func checkFieldError(t *testing.T, err error) {
	t.Helper()
	var e *linkd.Error
	if !errors.As(err, &e) {
		t.Fatalf("not an application error: %v", err)
	}
	if e.Code != linkd.EINVALID || e.Field == "" || e.Message == "" {
		t.Fatalf("error %+v: want EINVALID naming a field", e)
	}
}
