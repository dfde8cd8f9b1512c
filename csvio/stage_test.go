package csvio_test

import (
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func TestPreviewFile(t *testing.T) {
	// A European spreadsheet's file with the dashboard's labels, a quoted
	// ";" and an unknown column: detected, matched, the unknown left blank.
	p, err := csvio.PreviewFile([]byte("Linked Account ID;Name;Plan\r\na-1;\"Acme; Inc.\";pro\r\na-2;Beta;\r\n"), "", "", 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.Delimiter != "semicolon" || p.Encoding != "utf-8" || p.NotUTF8 {
		t.Fatalf("read as %s %s (not UTF-8: %v)", p.Delimiter, p.Encoding, p.NotUTF8)
	}
	if got := strings.Join(p.Targets, "|"); got != "linked_account_id|name|" {
		t.Fatalf("targets %q", got)
	}
	if len(p.Rows) != 2 || p.Rows[0][1] != "Acme; Inc." {
		t.Fatalf("rows %q", p.Rows)
	}
	// At most maxRows rows; udf. keys kept as written.
	p, err = csvio.PreviewFile([]byte("id,udf.Plan\n1,a\n2,b\n3,c\n"), "comma", "", 2)
	if err != nil || len(p.Rows) != 2 || strings.Join(p.Targets, "|") != "linked_account_id|udf.Plan" {
		t.Fatalf("preview %+v, %v", p, err)
	}

	// Windows-1252: as UTF-8 it is flagged, with U+FFFD for the bad bytes;
	// asked for, it reads as written.
	w, _ := charmap.Windows1252.NewEncoder().String("linked_account_id,name\nm,Café Müller\n")
	p, err = csvio.PreviewFile([]byte(w), "", "", 5)
	if err != nil || !p.NotUTF8 || p.Rows[0][1] != "Caf\uFFFD M\uFFFDller" {
		t.Fatalf("windows-1252 as UTF-8: %+v, %v", p, err)
	}
	p, err = csvio.PreviewFile([]byte(w), "", "windows-1252", 5)
	if err != nil || p.NotUTF8 || p.Encoding != "windows-1252" || p.Rows[0][1] != "Café Müller" {
		t.Fatalf("windows-1252: %+v, %v", p, err)
	}

	// UTF-16 by its BOM, whatever was asked; a character cut at the end of
	// the head is not an encoding error.
	u, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("Account ID\tAccount name\nz\tZoë\n")
	p, err = csvio.PreviewFile([]byte(u), "", "windows-1252", 5)
	if err != nil || p.Encoding != "utf-16le" || p.Delimiter != "tab" || p.Rows[0][1] != "Zoë" {
		t.Fatalf("utf-16: %+v, %v", p, err)
	}
	cut := "linked_account_id,name\nz,Zoë"
	p, err = csvio.PreviewFile([]byte(cut[:len(cut)-1]), "", "", 5)
	if err != nil || p.NotUTF8 {
		t.Fatalf("cut character: %+v, %v", p, err)
	}

	for _, c := range []struct{ file, delim, enc, field string }{
		{"a,b\n", "colon", "", "delimiter"},
		{"a,b\n", "", "ebcdic", "encoding"},
		{"a,\"b\n", "", "", "file"},
		{"", "", "", "file"},
	} {
		_, err := csvio.PreviewFile([]byte(c.file), c.delim, c.enc, 5)
		wantField(t, err, c.field, "")
	}
}

// TestStage uploads a file once, previews it and imports it with the
// choices made after seeing it, on both engines.
func TestStage(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		w, _ := charmap.Windows1252.NewEncoder().String("Account ID;Kunde;Notiz;Intern\r\nm-1;Café Müller;\"a; b\";x\r\n")
		staged, err := f.imp.Stage(f.ctx, csvio.UploadRequest{Tenant: f.tenant, Actor: "user:a", FileName: "kunden.csv", Mode: "upsert"}, strings.NewReader(w))
		if err != nil {
			t.Fatal(err)
		}
		// Not listed, not claimed: it waits for its mapping.
		if jobs, _, _ := f.store.ListImportJobs(f.ctx, f.tenant, 10, ""); len(jobs) != 0 {
			t.Fatalf("a staged file is listed: %+v", jobs[0])
		}
		if ran, err := f.runner("r1", 2, time.Minute).Drain(f.ctx); err != nil || ran != 0 {
			t.Fatalf("a runner ran %d jobs: %v", ran, err)
		}
		// Only its uploader sees it.
		if _, _, err := f.imp.StagedHead(f.ctx, f.tenant, "user:b", staged.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("another user's head: %v", err)
		}
		_, head, err := f.imp.StagedHead(f.ctx, f.tenant, "user:a", staged.ID)
		if err != nil || string(head) != w {
			t.Fatalf("head %q, %v", head, err)
		}
		// Confirmed with UTF-8 it is refused for its encoding and stays.
		mapping := map[string]string{"Kunde": "name", "Notiz": "udf.note", "Intern": "ignore"}
		_, err = f.imp.Confirm(f.ctx, f.tenant, "user:a", staged.ID, "", "", mapping)
		if !csvio.IsNotUTF8(err) || linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("confirm as UTF-8: %v", err)
		}
		job, err := f.imp.Confirm(f.ctx, f.tenant, "user:a", staged.ID, "", "windows-1252", mapping)
		if err != nil {
			t.Fatal(err)
		}
		if job.State != linkd.ImportQueued || job.FileName != "kunden.csv" || job.Mode != "upsert" || job.Actor != "user:a" {
			t.Fatalf("job %+v", job)
		}
		wantOptions(t, job, "semicolon", "windows-1252", map[string]string{"Account ID": "linked_account_id", "Kunde": "name", "Notiz": "udf.note", "Intern": "ignore"})
		// Confirming again imports nothing more.
		if _, err := f.imp.Confirm(f.ctx, f.tenant, "user:a", staged.ID, "", "windows-1252", mapping); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("second confirm: %v", err)
		}
		if ran, err := f.runner("r1", 2, time.Minute).Drain(f.ctx); err != nil || ran != 1 {
			t.Fatalf("run: %d %v", ran, err)
		}
		f.wantAccount("m-1", "Café Müller", map[string]string{"note": `"a; b"`})
		if _, err := f.store.ImportJob(f.ctx, f.tenant, staged.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("the staged job is still there: %v", err)
		}

		// Too large or empty: refused, nothing kept.
		small := csvio.NewImporter(store, f.svc, 10)
		if _, err := small.Stage(f.ctx, csvio.UploadRequest{Tenant: f.tenant, Actor: "user:a"}, strings.NewReader(strings.Repeat("x", 11))); linkd.ErrorCode(err) != linkd.ETOOLARGE {
			t.Fatalf("too large: %v", err)
		}
		_, err = f.imp.Stage(f.ctx, csvio.UploadRequest{Tenant: f.tenant, Actor: "user:a"}, strings.NewReader(""))
		wantField(t, err, "file", "empty")
		_, err = f.imp.Stage(f.ctx, csvio.UploadRequest{Tenant: f.tenant, Actor: "user:a", Mode: "merge"}, strings.NewReader("a"))
		wantField(t, err, "mode", "")
		if n, err := f.store.PurgeStaleUploads(f.ctx, time.Now().Add(time.Minute)); err != nil || n != 0 {
			t.Fatalf("refused stagings left %d uploads: %v", n, err)
		}
	})
}
