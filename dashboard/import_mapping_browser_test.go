package dashboard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/charmap"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestBrowserImportMapping takes a Windows-1252, ";"-separated file with
// an unknown column through the mapping step in Chromium on each engine:
// the encoding offer, choosing a UDF for one column and ignoring another,
// and the job's page showing how the file was read.
func TestBrowserImportMapping(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		b := newBrowser(t, e, 1280, 860, first && os.Getenv("LINKD_SCREENSHOTS") != "")
		first = false
		const email, password = "ada@example.com", "correct horse battery"
		e.user(email, password)
		b.run("login", chromedp.Navigate(e.url+"/login"), chromedp.WaitVisible("#email", q),
			chromedp.SendKeys("#email", email, q), chromedp.SendKeys("#password", password, q),
			chromedp.Submit("#password", q), waitURL("/accounts"))
		b.run("test env", chromedp.Navigate(e.url+"/accounts"), chromedp.WaitVisible("body", q))
		var ignored any
		// Switch to the test environment through the form the page has.
		b.run("switch env", eval(`fetch("/env", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "env=test&back=/accounts"}).then(r => r.status)`, &ignored))

		file, err := charmap.Windows1252.NewEncoder().String("Account ID;Account name;Plan tier;Internal note\r\n" +
			"mul-1;Café Müller;gold;call back\r\nmul-2;\"Zoë; and Co\";silver;\r\nmul-3;Señor Pérez;bronze;vip\r\n")
		if err != nil {
			t.Fatal(err)
		}
		csvPath := filepath.Join(t.TempDir(), "kunden.csv")
		if err := os.WriteFile(csvPath, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		b.run("upload", chromedp.Navigate(e.url+"/accounts/new?tab=multiple"), chromedp.WaitVisible("#file", q),
			chromedp.SetUploadFiles("#file", []string{csvPath}, q), chromedp.Click(`#panel-multiple button[type="submit"]`, q),
			chromedp.WaitVisible("#encoding-offer", q))
		if p := b.path(); !strings.HasSuffix(p, "/mapping") {
			t.Fatalf("after upload at %s", p)
		}
		if both := b.column("#encoding-offer td"); !strings.Contains(strings.Join(both, "|"), "Caf\uFFFD M\uFFFDller") || !strings.Contains(strings.Join(both, "|"), "Café Müller") {
			t.Fatalf("both readings: %q", both)
		}
		b.run("use windows-1252", chromedp.Click("#use-1252", q), waitText("#used-encoding", "windows-1252"), chromedp.WaitVisible("#mapping", q))
		if rows := b.column("#mapping tbody td"); !strings.Contains(strings.Join(rows, "|"), "Zoë; and Co") {
			t.Fatalf("preview rows: %q", rows)
		}
		var detected string
		b.run("detected", eval(`document.querySelector('#delimiter option[value=""]').textContent`, &detected))
		if got := detected; !strings.Contains(got, "semicolon") {
			t.Fatalf("delimiter shown as %q", got)
		}
		if a, n, tier := b.value("#target-0"), b.value("#target-1"), b.value("#target-2"); a != "linked_account_id" || n != "name" || tier != "" {
			t.Fatalf("pre-filled %q %q %q", a, n, tier)
		}
		b.run("map", chromedp.SetValue("#target-2", "udf", q), chromedp.SetValue("#key-2", "tier", q), chromedp.SetValue("#target-3", "ignore", q))
		b.screenshot("import-mapping")
		b.run("import", chromedp.Click("#confirm-import", q), chromedp.WaitVisible(".status-succeeded", q))
		if c := b.text(`[data-k="created"]`); c != "3" {
			t.Fatalf("created %s", c)
		}
		if d, enc, tier := b.text(`[data-k="delimiter"]`), b.text(`[data-k="encoding"]`), b.text(`[data-column="Plan tier"]`); !strings.Contains(d, "semicolon") || enc != "windows-1252" || tier != "udf.tier" {
			t.Fatalf("read as %q %q, Plan tier -> %q", d, enc, tier)
		}
		a, err := e.accounts.Get(t.Context(), e.test, "mul-1")
		if err != nil || a.Name != "Café Müller" || string(a.UDFValue("tier")) != `"gold"` || len(a.UDF) != 1 {
			t.Fatalf("mul-1: %+v %v", a, err)
		}
	})
}
