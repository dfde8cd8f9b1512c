package http_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/url"
	"testing"
)

// testImportOptions sends delimiter, encoding and mapping as query
// parameters and as form fields, and reads them back on the job.
func testImportOptions(t *testing.T, f *fixture) {
	// Windows-1252 bytes (é is E9), ";"-separated, with a column to map.
	file := "Account ID;Name;Plan;Notes\nm1;Caf\xe9;pro;x\n"
	q := url.Values{"encoding": {"windows-1252"}, "mapping": {`{"Plan":"udf.plan","Notes":"ignore"}`}}
	res := f.do("POST", la+"/import?"+q.Encode(), "a", []byte(file), "Content-Type", "text/csv")
	if res.status != 202 {
		t.Fatalf("upload: %d %s", res.status, res.raw)
	}
	match(t, "queued job", res.json, map[string]any{"delimiter": "semicolon", "encoding": "windows-1252"})
	id := res.json["_id"].(string)
	f.runJobs()
	res = f.do("GET", la+"/import/"+id, "a", nil)
	match(t, "job", res.json, map[string]any{"state": "succeeded", "created": 1, "delimiter": "semicolon", "encoding": "windows-1252"})
	match(t, "mapping", res.json["mapping"].(map[string]any), map[string]any{"Account ID": "linked_account_id", "Name": "name", "Plan": "udf.plan", "Notes": "ignore"})
	acct := f.do("GET", la+"/m1", "a", nil)
	if acct.json["name"] != "Café" {
		t.Fatalf("account: %s", acct.raw)
	}

	// The same as form fields before the file.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("delimiter", "pipe")
	mw.WriteField("mapping", `{"Code":"linked_account_id"}`)
	fw, _ := mw.CreateFormFile("file", "pipes.csv")
	io.WriteString(fw, "Code|Name\nm2|Two, Ltd\n")
	mw.Close()
	res = f.do("POST", la+"/import", "a", body.Bytes(), "Content-Type", mw.FormDataContentType())
	if res.status != 202 {
		t.Fatalf("multipart: %d %s", res.status, res.raw)
	}
	match(t, "multipart job", res.json, map[string]any{"delimiter": "pipe", "encoding": "utf-8"})

	// Without the encoding the same bytes are refused, saying how to retry.
	res = f.do("POST", la+"/import", "a", []byte(file), "Content-Type", "text/csv")
	if res.status != 400 || res.json["field"] != "file" || !bytes.Contains(res.raw, []byte("encoding=windows-1252")) {
		t.Fatalf("not UTF-8: %d %s", res.status, res.raw)
	}
	// Bad options name their parameter.
	for _, c := range []struct{ query, field string }{
		{"delimiter=colon", "delimiter"},
		{"encoding=ebcdic", "encoding"},
		{"mapping=" + url.QueryEscape(`["Plan"]`), "mapping"},
		{"mapping=" + url.QueryEscape(`{"Plan":"plan"}`), "mapping"},
		{"mapping=" + url.QueryEscape(`{"Nope":"ignore"}`), "mapping"},
	} {
		res := f.do("POST", la+"/import?"+c.query, "a", []byte("linked_account_id\nx\n"), "Content-Type", "text/csv")
		if res.status != 400 || res.json["field"] != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.query, res.status, res.raw, c.field)
		}
	}
}
