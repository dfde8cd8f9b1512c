package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// FuzzAccountListJSON: a list page written by hand (writeAccountList) is
// byte for byte what encoding/json writes for the same page, whatever the
// strings (control characters, invalid UTF-8, U+2028, quotes), UDF values
// (any JSON, spaced or not, or not JSON at all), times and paging fields.
func FuzzAccountListJSON(f *testing.F) {
	f.Add("acct-1", "Olivia Smith Labs", "plan", []byte(`"pro"`), int64(1764800000123456789), 3, true, int64(120), "MDE5", true)
	f.Add("a\"b\\c\n\t\x01\x7f", "Zoë \u2028 \u2029 <&>", "k\u00e9y", []byte(` { "a" : [1, 2.50, "x\u2028"] } `), int64(-62135596800000000000/1000), 0, false, int64(-1), "", false)
	f.Add("\xff\xfe", "\b\f\r", "", []byte(`not json`), int64(253402300800000000000/1000), 7, true, int64(0), "\x00", true)
	f.Add("x", "y", "z", []byte(``), int64(0), 2, false, int64(5), "c", false) // an empty value: encoding/json fails the page
	f.Add("n", "n", "n", []byte(`-1.5e+10`), int64(1), 2, true, int64(1), "c", true)
	f.Fuzz(func(t *testing.T, accountID, name, key string, value []byte, nanos int64, n int, creds bool, total int64, cursor string, first bool) {
		tn := linkd.Tenant{OrgID: "0192f0b0-0000-7000-8000-000000000000", Env: linkd.EnvTest}
		at := time.Unix(0, nanos)
		var accts []*linkd.LinkedAccount
		for i := range n % 4 {
			a := &linkd.LinkedAccount{ID: fmt.Sprintf("id-%d", i), AccountID: accountID, Name: name, CreatedAt: at, UpdatedAt: at.Add(time.Duration(i) * time.Hour),
				ConnectedApps: i, ActiveWorkflows: n}
			if creds {
				a.Credentials = []byte{1}
			}
			for j := range i {
				a.UDF = append(a.UDF, linkd.UDF{ID: key + "-id", Key: fmt.Sprint(key, j), Value: json.RawMessage(value), CreatedAt: at, UpdatedAt: at})
			}
			accts = append(accts, a)
		}
		out := listJSON{Limit: n, HasNextPage: creds, HasPrevPage: !first}
		if total >= 0 {
			pages := total / 3
			out.TotalDocs, out.TotalPages = &total, &pages
		}
		if cursor != "" {
			out.NextCursor = &cursor
		}
		if first {
			page, counter := n, n+1
			out.Page, out.PagingCounter, out.PrevPage, out.NextPage = &page, &counter, &counter, &page
		}
		got := httptest.NewRecorder()
		writeAccountList(got, tn, accts, out)
		out.Docs = make([]*accountJSON, 0, len(accts))
		for _, a := range accts {
			out.Docs = append(out.Docs, renderAccount(tn, a))
		}
		want := httptest.NewRecorder()
		writeJSON(want, 200, out)
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Fatalf("hand-written list differs from encoding/json:\n got %d %q\nwant %d %q", got.Code, got.Body.Bytes(), want.Code, want.Body.Bytes())
		}
	})
}

// BenchmarkListPage: a page of 50 accounts with two UDFs each, written by
// hand against encoding/json.
func BenchmarkListPage(b *testing.B) {
	tn := linkd.Tenant{OrgID: linkd.NewID(), Env: linkd.EnvTest}
	now := time.Now()
	var accts []*linkd.LinkedAccount
	for i := range 50 {
		a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: fmt.Sprintf("acct-%d-%s", i, linkd.NewID()), Name: "Olivia Smith Labs", CreatedAt: now, UpdatedAt: now}
		a.UDF = []linkd.UDF{{ID: "0123456789abcdef01234567", Key: "plan", Value: json.RawMessage(`"pro"`), CreatedAt: now, UpdatedAt: now},
			{ID: "0123456789abcdef01234568", Key: "region", Value: json.RawMessage(`"eu-west"`), CreatedAt: now, UpdatedAt: now}}
		accts = append(accts, a)
	}
	w := discard{header: http.Header{}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeAccountList(w, tn, accts, listJSON{Limit: 50, HasNextPage: true})
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := listJSON{Docs: make([]*accountJSON, 0, len(accts)), Limit: 50, HasNextPage: true}
			for _, a := range accts {
				out.Docs = append(out.Docs, renderAccount(tn, a))
			}
			writeJSON(w, 200, out)
		}
	})
}

// discard is a ResponseWriter that drops the body, as a socket takes it.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
