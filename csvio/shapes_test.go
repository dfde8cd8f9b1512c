package csvio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/worker"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// TestFileShapes imports the files spreadsheets actually save (issue 15),
// each made here byte by byte, on both engines.
func TestFileShapes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		for name, fn := range map[string]func(*testing.T, *fixture){
			"BOMAndCRLF":          testShapeBOMCRLF,
			"SemicolonQuoted":     testShapeSemicolon,
			"Tab":                 testShapeTab,
			"Pipe":                testShapePipe,
			"DelimiterOverride":   testShapeDelimiterOverride,
			"UTF16LE":             testShapeUTF16LE,
			"UTF16BE":             testShapeUTF16BE,
			"Windows1252":         testShapeWindows1252,
			"DashboardLabels":     testShapeDashboardLabels,
			"UnknownColumn":       testShapeUnknownColumn,
			"BadOptions":          testShapeBadOptions,
			"ResumeWithOptions":   testShapeResume,
			"UDFKeyCaseIsKept":    testShapeUDFKeyCase,
			"TargetTakenTwice":    testShapeTargetTwice,
			"MappingOverridesAll": testShapeMappingOverrides,
		} {
			t.Run(name, func(t *testing.T) { fn(t, newFixture(t, store)) })
		}
	})
}

func (f *fixture) uploadWith(file string, req csvio.UploadRequest) (*linkd.ImportJob, error) {
	req.Tenant, req.Actor, req.FileName = f.tenant, "api_key:test", "accounts.csv"
	return f.imp.Upload(f.ctx, req, strings.NewReader(file))
}

// importWith uploads with req's options and runs the job to its end,
// expecting every row to import.
func (f *fixture) importWith(file string, req csvio.UploadRequest) *linkd.ImportJob {
	f.t.Helper()
	job, err := f.uploadWith(file, req)
	if err != nil {
		f.t.Fatalf("upload: %v", err)
	}
	if ran, err := f.runner("r1", 2, time.Minute).Drain(f.ctx); err != nil || ran != 1 {
		f.t.Fatalf("run: %v %v", ran, err)
	}
	job, err = f.store.ImportJob(f.ctx, f.tenant, job.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if job.State != linkd.ImportSucceeded || job.Failed != 0 || job.Created != job.RowsTotal {
		errs, _ := f.store.ImportErrors(f.ctx, f.tenant, job.ID, 0, 10)
		f.t.Fatalf("job %+v, errors %+v", job, errs)
	}
	return job
}

func (f *fixture) wantAccount(id, name string, udf map[string]string) {
	f.t.Helper()
	a := f.account(id)
	if a.Name != name {
		f.t.Errorf("%s: name %q, want %q", id, a.Name, name)
	}
	for k, v := range udf {
		if got := string(a.UDFValue(k)); got != v {
			f.t.Errorf("%s: udf %q = %s, want %s", id, k, got, v)
		}
	}
	if len(a.UDF) != len(udf) {
		f.t.Errorf("%s: udf %v, want %d keys", id, a.UDF, len(udf))
	}
}

func wantOptions(t *testing.T, j *linkd.ImportJob, delim, enc string, mapping map[string]string) {
	t.Helper()
	if j.Options.Delimiter != delim || j.Options.Encoding != enc || fmt.Sprint(j.Options.Mapping) != fmt.Sprint(mapping) {
		t.Errorf("options %+v, want %s, %s, %v", j.Options, delim, enc, mapping)
	}
}

func wantField(t *testing.T, err error, field, text string) {
	t.Helper()
	var e *linkd.Error
	if !errors.As(err, &e) || e.Code != linkd.EINVALID || e.Field != field || !strings.Contains(e.Message, text) {
		t.Fatalf("error %v, want EINVALID on %s containing %q", err, field, text)
	}
}

func testShapeBOMCRLF(t *testing.T, f *fixture) {
	j := f.importWith("\uFEFFlinked_account_id,name,udf.plan\r\nacme,Acme Inc.,pro\r\nglobex,\"Globex, Corp\",\"line 1\r\nline 2\"\r\n", csvio.UploadRequest{})
	wantOptions(t, j, "comma", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "name": "name", "udf.plan": "udf.plan"})
	f.wantAccount("acme", "Acme Inc.", map[string]string{"plan": `"pro"`})
	f.wantAccount("globex", "Globex, Corp", map[string]string{"plan": `"line 1\nline 2"`})
}

func testShapeSemicolon(t *testing.T, f *fixture) {
	// What a spreadsheet in a decimal-comma locale saves: ";" between
	// fields, and fields holding ";" quoted, the header's own included.
	file := "linked_account_id;name;\"udf.a;b\";udf.price\r\n" +
		"acme;\"Acme; Inc.\";x;1,5\r\n" +
		"globex;Globex;\"y;z\";\r\n"
	j := f.importWith(file, csvio.UploadRequest{})
	wantOptions(t, j, "semicolon", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "name": "name", "udf.a;b": "udf.a;b", "udf.price": "udf.price"})
	f.wantAccount("acme", "Acme; Inc.", map[string]string{"a;b": `"x"`, "price": `"1,5"`})
	f.wantAccount("globex", "Globex", map[string]string{"a;b": `"y;z"`})
}

func testShapeTab(t *testing.T, f *fixture) {
	j := f.importWith("linked_account_id\tname\tudf.plan\nacme\tAcme, Inc.\tpro\n", csvio.UploadRequest{})
	wantOptions(t, j, "tab", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "name": "name", "udf.plan": "udf.plan"})
	f.wantAccount("acme", "Acme, Inc.", map[string]string{"plan": `"pro"`})
}

func testShapePipe(t *testing.T, f *fixture) {
	j := f.importWith("linked_account_id|name\nacme|Acme; Inc, Ltd\n", csvio.UploadRequest{})
	wantOptions(t, j, "pipe", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "name": "name"})
	f.wantAccount("acme", "Acme; Inc, Ltd", nil)
}

func testShapeDelimiterOverride(t *testing.T, f *fixture) {
	// More commas than semicolons in the header would say comma; asked
	// for, semicolon wins.
	j := f.importWith("linked_account_id;\"name, full\"\nacme;\"Acme, Inc.\"\n", csvio.UploadRequest{Delimiter: "semicolon",
		Mapping: map[string]string{"name, full": "name"}})
	wantOptions(t, j, "semicolon", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "name, full": "name"})
	f.wantAccount("acme", "Acme, Inc.", nil)
	// And a ";" file read as comma-separated is one unknown column, as
	// before detection.
	_, err := f.uploadWith("linked_account_id;name\nx;y\n", csvio.UploadRequest{Delimiter: "comma"})
	wantField(t, err, "header", `"linked_account_id;name"`)
}

// utf16 is text as a "Unicode text" export writes it: UTF-16 with a BOM.
func utf16(t *testing.T, text string, order unicode.Endianness) string {
	b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testShapeUTF16LE(t *testing.T, f *fixture) {
	file := utf16(t, "Account ID\tAccount name\tudf.Région\r\nmüller-1\tCafé Müller\tÎle-de-France\r\nzoë\tZoë 😀\t\r\n", unicode.LittleEndian)
	if !strings.HasPrefix(file, "\xFF\xFE") {
		t.Fatalf("not UTF-16LE with a BOM: % x", file[:4])
	}
	j := f.importWith(file, csvio.UploadRequest{})
	wantOptions(t, j, "tab", "utf-16le", map[string]string{"Account ID": "linked_account_id", "Account name": "name", "udf.Région": "udf.Région"})
	f.wantAccount("müller-1", "Café Müller", map[string]string{"Région": `"Île-de-France"`})
	f.wantAccount("zoë", "Zoë 😀", nil)
}

func testShapeUTF16BE(t *testing.T, f *fixture) {
	j := f.importWith(utf16(t, "linked_account_id,name\nm,Café Müller\n", unicode.BigEndian), csvio.UploadRequest{})
	wantOptions(t, j, "comma", "utf-16be", map[string]string{"linked_account_id": "linked_account_id", "name": "name"})
	f.wantAccount("m", "Café Müller", nil)
}

func testShapeWindows1252(t *testing.T, f *fixture) {
	file, err := charmap.Windows1252.NewEncoder().String("linked_account_id;name;udf.note\r\nm;Café Müller;5 € – “quoted”\r\n")
	if err != nil {
		t.Fatal(err)
	}
	// Not UTF-8, and not asked for: refused, saying how to send it again.
	_, err = f.uploadWith(file, csvio.UploadRequest{})
	wantField(t, err, "file", "encoding=windows-1252")
	wantField(t, err, "file", "offset 38")
	jobs, _, _ := f.store.ListImportJobs(f.ctx, f.tenant, 10, "")
	if len(jobs) != 0 {
		t.Fatalf("a refused upload left %d jobs", len(jobs))
	}
	for _, enc := range []string{"windows-1252", "latin-1"} {
		f := newFixture(t, f.store)
		j := f.importWith(file, csvio.UploadRequest{Encoding: enc})
		wantOptions(t, j, "semicolon", "windows-1252", map[string]string{"linked_account_id": "linked_account_id", "name": "name", "udf.note": "udf.note"})
		f.wantAccount("m", "Café Müller", map[string]string{"note": `"5 € – “quoted”"`})
	}
	// A BOM says what the file is whatever was asked.
	f2 := newFixture(t, f.store)
	f2.importWith("\uFEFFlinked_account_id,name\nm,Café\n", csvio.UploadRequest{Encoding: "windows-1252"})
	f2.wantAccount("m", "Café", nil)
}

func testShapeDashboardLabels(t *testing.T, f *fixture) {
	j := f.importWith("Linked Account ID,Name,udf.plan\nacme,Acme,pro\n", csvio.UploadRequest{})
	wantOptions(t, j, "comma", "utf-8", map[string]string{"Linked Account ID": "linked_account_id", "Name": "name", "udf.plan": "udf.plan"})
	f.wantAccount("acme", "Acme", map[string]string{"plan": `"pro"`})
	for _, h := range []string{" linked account id ,ACCOUNT NAME", "ID,account_name", "LinkedAccountId,name"} {
		f := newFixture(t, f.store)
		f.importWith(h+"\nx,X\n", csvio.UploadRequest{})
		f.wantAccount("x", "X", nil)
	}
}

func testShapeUnknownColumn(t *testing.T, f *fixture) {
	file := "ID,Name,Plan,Notes\nacme,Acme,pro,call back\n"
	// Refused naming the columns: never turned into UDFs unasked.
	_, err := f.uploadWith(file, csvio.UploadRequest{})
	wantField(t, err, "header", `unknown column(s) "Plan", "Notes"`)
	wantField(t, err, "header", "mapping")
	j := f.importWith(file, csvio.UploadRequest{Mapping: map[string]string{"Plan": "udf.plan", "Notes": "ignore"}})
	wantOptions(t, j, "comma", "utf-8", map[string]string{"ID": "linked_account_id", "Name": "name", "Plan": "udf.plan", "Notes": "ignore"})
	f.wantAccount("acme", "Acme", map[string]string{"plan": `"pro"`})
	// A mapping must name columns the header has.
	_, err = f.uploadWith(file, csvio.UploadRequest{Mapping: map[string]string{"Plan": "udf.plan", "Notes": "ignore", "plan": "name"}})
	wantField(t, err, "mapping", `"plan", which the header does not have`)
}

func testShapeBadOptions(t *testing.T, f *fixture) {
	file := "linked_account_id\nx\n"
	_, err := f.uploadWith(file, csvio.UploadRequest{Delimiter: "colon"})
	wantField(t, err, "delimiter", `"colon"`)
	_, err = f.uploadWith(file, csvio.UploadRequest{Encoding: "ebcdic"})
	wantField(t, err, "encoding", `"ebcdic"`)
	_, err = f.uploadWith(file, csvio.UploadRequest{Mapping: map[string]string{"x": "plan"}})
	wantField(t, err, "mapping", `"plan"`)
	_, err = f.uploadWith(file, csvio.UploadRequest{Mapping: map[string]string{"x": "udf."}})
	wantField(t, err, "mapping", `"x"`)
	jobs, _, _ := f.store.ListImportJobs(f.ctx, f.tenant, 10, "")
	if len(jobs) != 0 {
		t.Fatalf("refused uploads left %d jobs", len(jobs))
	}
}

func testShapeUDFKeyCase(t *testing.T, f *fixture) {
	j := f.importWith("linked_account_id,UDF.Plan,udf.plan\nx,A,b\n", csvio.UploadRequest{})
	wantOptions(t, j, "comma", "utf-8", map[string]string{"linked_account_id": "linked_account_id", "UDF.Plan": "udf.Plan", "udf.plan": "udf.plan"})
	f.wantAccount("x", "", map[string]string{"Plan": `"A"`, "plan": `"b"`})
}

func testShapeTargetTwice(t *testing.T, f *fixture) {
	_, err := f.uploadWith("ID,linked_account_id\nx,y\n", csvio.UploadRequest{})
	wantField(t, err, "header", `columns "ID" and "linked_account_id" are both read as linked_account_id`)
	_, err = f.uploadWith("ID,Code\nx,y\n", csvio.UploadRequest{Mapping: map[string]string{"Code": "linked_account_id"}})
	wantField(t, err, "mapping", "both read as linked_account_id")
	// Ignoring one of them settles it.
	f.importWith("ID,linked_account_id\nx,y\n", csvio.UploadRequest{Mapping: map[string]string{"ID": "ignore"}})
	f.wantAccount("y", "", nil)
}

func testShapeMappingOverrides(t *testing.T, f *fixture) {
	// A column that would match by itself goes where the mapping says.
	f.importWith("Name,Code\nAcme,acme\n", csvio.UploadRequest{Mapping: map[string]string{"Code": "linked_account_id", "Name": "udf.Name"}})
	f.wantAccount("acme", "", map[string]string{"Name": `"Acme"`})
}

// testShapeResume kills a job's first runner mid-file: the runner that
// takes it over reads the rest with the stored delimiter and mapping.
func testShapeResume(t *testing.T, f *fixture) {
	var b strings.Builder
	b.WriteString("Account ID;Company;Plan\r\n")
	const n = 30
	for i := range n {
		fmt.Fprintf(&b, "acct-%03d;\"Company %d; Ltd\";p%d\r\n", i, i, i)
	}
	file, _ := charmap.Windows1252.NewEncoder().String(strings.Replace(b.String(), "Company 7;", "Café 7;", 1))
	job, err := f.uploadWith(file, csvio.UploadRequest{Encoding: "windows-1252", Mapping: map[string]string{"Company": "name", "Plan": "udf.plan"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	dying := csvio.NewImporter(&cancelAfter{Store: f.store, commits: 2, cancel: cancel}, f.svc, 0)
	if ran, err := csvio.NewRunner(dying, worker.Options{Owner: "A", Lease: time.Minute}, 4).Drain(ctx); ran != 1 || err == nil {
		t.Fatalf("runner A: ran %v, err %v; want it cut off", ran, err)
	}
	if mid, _ := f.store.ImportJob(f.ctx, f.tenant, job.ID); mid.RowsProcessed != 8 {
		t.Fatalf("after A: %+v", mid)
	}
	later := func() time.Time { return time.Now().Add(time.Minute + time.Second) }
	if ran, err := csvio.NewRunner(f.imp, worker.Options{Owner: "B", Lease: time.Minute, Clock: later}, 4).Drain(f.ctx); ran != 1 || err != nil {
		t.Fatalf("B after the lease: %v %v", ran, err)
	}
	done, _ := f.store.ImportJob(f.ctx, f.tenant, job.ID)
	if done.State != linkd.ImportSucceeded || done.Created != n || done.Failed != 0 {
		t.Fatalf("after B: %+v", done)
	}
	f.wantAccount("acct-007", "Café 7; Ltd", map[string]string{"plan": `"p7"`})
	f.wantAccount("acct-029", "Company 29; Ltd", map[string]string{"plan": `"p29"`})
}
