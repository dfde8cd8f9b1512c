package linkd_test

import (
	"testing"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// FuzzWebhookLists: a webhook's lists as stored (JSON text a damaged row or
// an old version may hold) decode or fail with an error; what decodes
// encodes back to JSON that decodes to the same.
func FuzzWebhookLists(f *testing.F) {
	f.Add([]byte(`["connection.created"]`), []byte(`{"X-A":"b"}`), []byte(`[]`))
	f.Add([]byte(`null`), []byte(`null`), []byte(`null`))
	f.Add([]byte(`{}`), []byte(`[]`), []byte(`"x"`))
	f.Fuzz(func(t *testing.T, events, headers, workflows []byte) {
		var w linkd.Webhook
		if err := linkd.DecodeWebhookLists(&w, events, headers, workflows); err != nil {
			return
		}
		e, h, wf := linkd.EncodeWebhookLists(&w)
		var back linkd.Webhook
		if err := linkd.DecodeWebhookLists(&back, []byte(e), []byte(h), []byte(wf)); err != nil {
			t.Fatalf("re-encoded lists do not decode: %v", err)
		}
	})
}

// FuzzValidateAccountID: an accepted account id is 1–255 bytes of valid
// UTF-8; a refused one is an EINVALID error naming linked_account_id.
func FuzzValidateAccountID(f *testing.F) {
	for _, s := range []string{"user_1", "", " x", "x ", "a\x00b", "\xff", "é", string(make([]byte, 256))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := linkd.ValidateAccountID(id)
		if err == nil {
			if len(id) == 0 || len(id) > linkd.MaxAccountIDBytes || !utf8.ValidString(id) {
				t.Fatalf("accepted %q", id)
			}
			return
		}
		if linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("ValidateAccountID(%q) = %v", id, err)
		}
	})
}
