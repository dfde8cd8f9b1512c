package http_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

func testImportExport(t *testing.T, f *fixture) {
	// The sample is served without a key and imports cleanly.
	sample := f.do("GET", la+"/import/sample.csv", "", nil)
	if sample.status != 200 || !strings.HasPrefix(sample.header.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(sample.raw, []byte("linked_account_id,")) {
		t.Fatalf("sample: %d %q", sample.status, sample.raw)
	}
	res := f.do("POST", la+"/import?mode=create", "a", sample.raw)
	if res.status != 202 || res.json["state"] != "queued" || res.header.Get("Location") == "" {
		t.Fatalf("upload sample: %d %s", res.status, res.raw)
	}
	id := res.json["_id"].(string)
	if res := f.do("GET", la+"/import/"+id, "b", nil); res.status != 404 {
		t.Fatalf("another tenant reads the job: %d", res.status)
	}
	f.runJobs()
	res = f.do("GET", la+"/import/"+id, "a", nil)
	match(t, "sample job", res.json, map[string]any{"state": "succeeded", "rows_total": 4, "rows_processed": 4, "created": 4, "failed": 0, "progress": 1})

	// A file with good and bad rows, as multipart with the fields first.
	file := "linked_account_id,name,udf.tier\nm1,One,gold\n,Missing,gold\nm2,\"Two, Ltd\",silver\nm1,Again,gold\n"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("mode", "upsert")
	fw, _ := mw.CreateFormFile("file", "customers.csv")
	io.WriteString(fw, file)
	mw.Close()
	res = f.do("POST", la+"/import", "a", body.Bytes(), "Content-Type", mw.FormDataContentType())
	if res.status != 202 || res.json["file_name"] != "customers.csv" || res.json["mode"] != "upsert" || res.json["rows_total"] != float64(4) {
		t.Fatalf("multipart upload: %d %s", res.status, res.raw)
	}
	id = res.json["_id"].(string)
	f.runJobs()
	res = f.do("GET", la+"/import/"+id, "a", nil)
	match(t, "mixed job", res.json, map[string]any{"state": "succeeded", "created": 2, "failed": 2})
	errs := res.json["errors"].([]any)
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	match(t, "error 0", errs[0].(map[string]any), map[string]any{"row": 3, "column": "linked_account_id"})
	match(t, "error 1", errs[1].(map[string]any), map[string]any{"row": 5, "linked_account_id": "m1"})
	ecsv := f.do("GET", la+"/import/"+id+"/errors.csv", "a", nil)
	recs, err := csv.NewReader(bytes.NewReader(ecsv.raw)).ReadAll()
	if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "row,column,linked_account_id,message" || recs[2][0] != "5" {
		t.Fatalf("errors.csv: %v %q", err, ecsv.raw)
	}
	// Jobs are listed newest first.
	res = f.do("GET", la+"/import", "a", nil)
	if docs := res.json["docs"].([]any); len(docs) != 2 || docs[0].(map[string]any)["_id"] != id {
		t.Fatalf("job list: %s", res.raw)
	}
	// A finished job cannot be cancelled; a queued one can.
	if res := f.do("DELETE", la+"/import/"+id, "a", nil); res.status != 400 {
		t.Fatalf("cancel finished: %d %s", res.status, res.raw)
	}
	res = f.do("POST", la+"/import", "a", "linked_account_id\nlater\n")
	cid := res.json["_id"].(string)
	if res := f.do("DELETE", la+"/import/"+cid, "a", nil); res.status != 200 || res.json["state"] != "cancelled" {
		t.Fatalf("cancel queued: %d %s", res.status, res.raw)
	}

	// Refused uploads answer at once and name the problem.
	for name, c := range map[string]struct {
		body, ctype string
		status      int
		field       string
	}{
		"unknown column": {"linked_account_id,plan\nx,y\n", "text/csv", 400, "header"},
		"not UTF-8":      {"linked_account_id\n\xff\n", "text/csv", 400, "file"},
		"no header":      {"", "text/csv", 400, "file"},
		"JSON body":      {`{"a":1}`, "application/json", 415, "Content-Type"},
		"too large":      {"linked_account_id\n" + strings.Repeat("x\n", 3<<20), "text/csv", 413, "file"},
	} {
		res := f.do("POST", la+"/import", "a", []byte(c.body), "Content-Type", c.ctype)
		if res.status != c.status || res.json["field"] != c.field {
			t.Errorf("%s: %d %s, want %d naming %s", name, res.status, res.raw, c.status, c.field)
		}
	}
	if res := f.do("POST", la+"/import?dry_run=maybe", "a", "linked_account_id\nx\n"); res.status != 400 || res.json["field"] != "dry_run" {
		t.Errorf("bad dry_run: %d %s", res.status, res.raw)
	}

	// Export streams the tenant's accounts in the import format, filtered.
	exp := f.do("GET", la+"/export.csv", "a", nil)
	recs, err = csv.NewReader(bytes.NewReader(exp.raw)).ReadAll()
	if err != nil || exp.status != 200 || len(recs) != 7 || recs[0][0] != "linked_account_id" {
		t.Fatalf("export: %d %v %q", exp.status, err, exp.raw)
	}
	exp = f.do("GET", la+"/export.csv?udf.tier=gold", "a", nil)
	if recs, _ := csv.NewReader(bytes.NewReader(exp.raw)).ReadAll(); len(recs) != 2 || recs[1][0] != "m1" {
		t.Fatalf("filtered export: %q", exp.raw)
	}
	if exp := f.do("GET", la+"/export.csv", "b", nil); !bytes.Equal(bytes.TrimSpace(exp.raw), []byte("linked_account_id,name")) {
		t.Fatalf("another tenant's export: %q", exp.raw)
	}
	// The import is in the audit log with its counts.
	res = f.do("GET", "/api/v2/public/audit", "a", nil)
	found := false
	for _, d := range res.json["docs"].([]any) {
		e := d.(map[string]any)
		if e["action"] == "linked_account.import" && fmt.Sprint(e["details"].(map[string]any)["file_name"]) == "customers.csv" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no import in the audit log: %s", res.raw)
	}
}

// runJobs runs every queued import job to its end.
func (f *fixture) runJobs() {
	f.t.Helper()
	for range 10 {
		ran, err := f.runner.Drain(f.t.Context())
		if err != nil {
			f.t.Fatal(err)
		}
		if ran == 0 {
			return
		}
	}
}
