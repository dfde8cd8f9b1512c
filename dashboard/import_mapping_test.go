package dashboard_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// uploadCSV posts the Multiple tab's form: fields first, then the file.
func (e *env) uploadCSV(c *http.Client, name, content string, fields map[string]string) *http.Response {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range []string{"mode", "dry_run", "delimiter", "encoding"} {
		if v, ok := fields[k]; ok {
			mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte(content))
	mw.Close()
	req, _ := http.NewRequest("POST", e.url+"/accounts/import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", e.url)
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// waitImport polls the job until it ends and returns it.
func (e *env) waitImport(tn linkd.Tenant, jobPath string) *linkd.ImportJob {
	e.t.Helper()
	id := strings.TrimPrefix(jobPath, "/imports/")
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := e.store.ImportJob(e.t.Context(), tn, id)
		if err != nil {
			e.t.Fatalf("job %s: %v", id, err)
		}
		if j.Finished() {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) wantAccount(id, name string, udf map[string]string) {
	e.t.Helper()
	a, err := e.accounts.Get(e.t.Context(), e.test, id)
	if err != nil {
		e.t.Fatalf("account %s: %v", id, err)
	}
	if a.Name != name || len(a.UDF) != len(udf) {
		e.t.Fatalf("account %s: %q %v, want %q %v", id, a.Name, a.UDF, name, udf)
	}
	for k, v := range udf {
		if got := string(a.UDFValue(k)); got != v {
			e.t.Fatalf("account %s: udf %q = %s, want %s", id, k, got, v)
		}
	}
}

// TestImportMappingHTTP is the dashboard's two-step import without a
// browser, on both engines: the file is sent once, previewed with its
// columns matched, and imported with the choices made on the page.
func TestImportMappingHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		c := e.client()
		e.user("ada@example.com", "correct horse battery")
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		wantStatus(t, e.post(c, "/env", url.Values{"env": {"test"}, "back": {"/accounts"}}, e.url), http.StatusSeeOther)
		get := func(path string) (int, string) {
			t.Helper()
			resp, err := c.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body(t, resp)
		}

		t.Run("SemicolonWithDashboardLabels", func(t *testing.T) {
			file := "Linked Account ID;Name;udf.plan\r\nsemi-1;\"Acme; Inc.\";pro\r\nsemi-2;Beta;\r\n"
			resp := e.uploadCSV(c, "european.csv", file, map[string]string{"mode": "create"})
			wantStatus(t, resp, http.StatusSeeOther)
			mapPath := resp.Header.Get("Location")
			if !strings.HasSuffix(mapPath, "/mapping") {
				t.Fatalf("upload goes to %q", mapPath)
			}
			// Nothing is imported before the columns are confirmed.
			if _, err := e.accounts.Get(t.Context(), e.test, "semi-1"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
				t.Fatalf("imported before the mapping: %v", err)
			}
			st, page := get(mapPath)
			if st != http.StatusOK || !strings.Contains(page, "found semicolon") || !strings.Contains(page, "<td>Acme; Inc.</td>") {
				t.Fatalf("preview %d:\n%s", st, page)
			}
			for i, want := range []string{"linked_account_id", "name", "udf"} {
				if !selected(page, "target."+itoa(i), want) {
					t.Fatalf("column %d is not pre-filled as %s:\n%s", i, want, page)
				}
			}
			resp = e.post(c, mapPath, url.Values{"action": {"import"}}, e.url)
			wantStatus(t, resp, http.StatusSeeOther)
			jobPath := resp.Header.Get("Location")
			j := e.waitImport(e.test, jobPath)
			if j.State != linkd.ImportSucceeded || j.Created != 2 || j.Options.Delimiter != "semicolon" {
				t.Fatalf("job %+v", j)
			}
			e.wantAccount("semi-1", "Acme; Inc.", map[string]string{"plan": `"pro"`})
			// The job's page says how the file was read.
			_, page = get(jobPath)
			for _, want := range []string{`data-k="delimiter">semicolon`, `data-k="encoding">utf-8`, `data-column="Linked Account ID">linked_account_id`, `data-column="udf.plan">udf.plan`} {
				if !strings.Contains(page, want) {
					t.Fatalf("job page lacks %s:\n%s", want, page)
				}
			}
			// The staged file is gone: confirming again is refused.
			resp = e.post(c, mapPath, url.Values{"action": {"import"}}, e.url)
			wantStatus(t, resp, http.StatusNotFound)
		})

		t.Run("Windows1252OfferedAndAccepted", func(t *testing.T) {
			file, _ := charmap.Windows1252.NewEncoder().String("linked_account_id,name\r\nwin-1,Café Müller\r\n")
			resp := e.uploadCSV(c, "latin.csv", file, nil)
			wantStatus(t, resp, http.StatusSeeOther)
			mapPath := resp.Header.Get("Location")
			st, page := get(mapPath)
			if st != http.StatusOK || !strings.Contains(page, `id="encoding-offer"`) ||
				!strings.Contains(page, "<td>Caf\uFFFD M\uFFFDller</td>") || !strings.Contains(page, "<td>Café Müller</td>") {
				t.Fatalf("no offer of Windows-1252 with both readings:\n%s", page)
			}
			// Importing as UTF-8 anyway is refused for the encoding, and
			// the offer stays.
			resp = e.post(c, mapPath, url.Values{"action": {"import"}, "shown_encoding": {""}}, e.url)
			if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "not UTF-8") || !strings.Contains(b, `id="encoding-offer"`) {
				t.Fatalf("import as UTF-8: %d\n%s", resp.StatusCode, b)
			}
			// Take the offer: the preview is read as Windows-1252 ...
			resp = e.post(c, mapPath, url.Values{"use_encoding": {"windows-1252"}}, e.url)
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK || strings.Contains(b, `id="encoding-offer"`) || !strings.Contains(b, "<td>Café Müller</td>") ||
				!strings.Contains(b, `name="shown_encoding" value="windows-1252"`) {
				t.Fatalf("after taking the offer: %d\n%s", resp.StatusCode, b)
			}
			// ... and imports so.
			resp = e.post(c, mapPath, url.Values{"action": {"import"}, "encoding": {"windows-1252"}, "shown_encoding": {"windows-1252"}}, e.url)
			wantStatus(t, resp, http.StatusSeeOther)
			jobPath := resp.Header.Get("Location")
			if j := e.waitImport(e.test, jobPath); j.State != linkd.ImportSucceeded || j.Options.Encoding != "windows-1252" {
				t.Fatalf("job %+v", j)
			}
			e.wantAccount("win-1", "Café Müller", nil)
			if _, page := get(jobPath); !strings.Contains(page, `data-k="encoding">windows-1252`) {
				t.Fatalf("job page:\n%s", page)
			}
		})

		t.Run("UnknownColumnsToUDFAndIgnored", func(t *testing.T) {
			file := "ID,Customer,Plan Tier,Internal\nunk-1,Umbrella,gold,x\n"
			resp := e.uploadCSV(c, "crm.csv", file, map[string]string{"mode": "upsert", "delimiter": "comma"})
			wantStatus(t, resp, http.StatusSeeOther)
			mapPath := resp.Header.Get("Location")
			if !strings.Contains(mapPath, "delimiter=comma") {
				t.Fatalf("the delimiter chosen at upload is lost: %s", mapPath)
			}
			st, page := get(mapPath)
			if st != http.StatusOK || !selected(page, "target.0", "linked_account_id") || !selected(page, "target.1", "") || !selected(page, "target.3", "") {
				t.Fatalf("preview %d:\n%s", st, page)
			}
			// Unmapped columns are not guessed: importing asks for them.
			resp = e.post(c, mapPath, url.Values{"action": {"import"}, "delimiter": {"comma"}, "shown_delimiter": {"comma"}}, e.url)
			if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, `id="target-1-err"`) || !strings.Contains(b, `id="target-3-err"`) {
				t.Fatalf("unmapped columns: %d\n%s", resp.StatusCode, b)
			}
			form := url.Values{"action": {"import"}, "delimiter": {"comma"}, "shown_delimiter": {"comma"}}
			for i, h := range []string{"ID", "Customer", "Plan Tier", "Internal"} {
				form.Set("header."+itoa(i), h)
			}
			form.Set("target.0", "linked_account_id")
			form.Set("target.1", "name")
			form.Set("target.2", "udf")
			form.Set("key.2", "tier")
			form.Set("target.3", "ignore")
			resp = e.post(c, mapPath, form, e.url)
			wantStatus(t, resp, http.StatusSeeOther)
			jobPath := resp.Header.Get("Location")
			j := e.waitImport(e.test, jobPath)
			if j.State != linkd.ImportSucceeded || j.Mode != "upsert" || j.Options.Mapping["Plan Tier"] != "udf.tier" || j.Options.Mapping["Internal"] != "ignore" {
				t.Fatalf("job %+v", j)
			}
			e.wantAccount("unk-1", "Umbrella", map[string]string{"tier": `"gold"`})
			if _, page := get(jobPath); !strings.Contains(page, `data-column="Plan Tier">udf.tier`) || !strings.Contains(page, `data-column="Internal">ignore`) {
				t.Fatalf("job page:\n%s", page)
			}
		})

		t.Run("OthersCannotSeeIt", func(t *testing.T) {
			resp := e.uploadCSV(c, "mine.csv", "linked_account_id\nmine-1\n", nil)
			wantStatus(t, resp, http.StatusSeeOther)
			mapPath := resp.Header.Get("Location")
			other := e.client()
			e.user("bob@example.com", "correct horse battery")
			wantStatus(t, e.login(other, "bob@example.com", "correct horse battery"), http.StatusSeeOther)
			resp, err := other.Get(e.url + mapPath)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, resp, http.StatusNotFound)
			body(t, resp)
			// A bad delimiter at upload names it.
			resp = e.uploadCSV(c, "x.csv", "a\n1\n", map[string]string{"delimiter": "colon"})
			if b := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "delimiter must be") {
				t.Fatalf("bad delimiter: %d\n%s", resp.StatusCode, b)
			}
		})
	})
}

// selected reports whether the select named name has value selected.
func selected(page, name, value string) bool {
	i := strings.Index(page, `name="`+name+`"`)
	if i < 0 {
		return false
	}
	end := strings.Index(page[i:], "</select>")
	return end > 0 && strings.Contains(page[i:i+end], `value="`+value+`" selected`)
}

func itoa(i int) string { return string(rune('0' + i)) }
