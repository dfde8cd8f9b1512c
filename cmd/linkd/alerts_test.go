package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAlertRulesUseExportedMetrics: every metric the shipped alert rules
// (deploy/prometheus/alerts.yml) name is one linkd exports, on SQLite or on
// PostgreSQL: a rule over a misspelt or removed metric never fires, and
// promtool cannot tell. Vector metrics appear on /metrics only once they
// have a sample, so those are looked up where the code defines them (http/
// and cmd/linkd).
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`\b([a-z_]+)\{job=`).FindAllStringSubmatch(string(rules), -1) {
		if n := strings.TrimSuffix(m[1], "_bucket"); n != "up" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) < 5 {
		t.Fatalf("found only %v in the rules", names)
	}
	exported := ""
	for _, env := range engines(t) {
		_, metrics, _ := serveWithMetrics(t, env)
		_, body := get(t, metrics+"/metrics", "")
		exported += body
	}
	var source strings.Builder
	files, _ := filepath.Glob("../../http/*.go")
	more, _ := filepath.Glob("*.go")
	files = append(files, more...)
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, _ := os.ReadFile(f)
			source.Write(b)
		}
	}
	noPG := os.Getenv("LINKD_TEST_POSTGRES_URL") == ""
	for _, n := range names {
		if noPG && strings.HasPrefix(n, "linkd_pg_") {
			t.Logf("%s is PostgreSQL's: not checked without LINKD_TEST_POSTGRES_URL", n)
			continue
		}
		if !strings.Contains(exported, "\n"+n) && !strings.Contains(exported, "# TYPE "+n+" ") &&
			!strings.Contains(source.String(), `Name: "`+n+`"`) {
			t.Errorf("the alert rules use %s, which linkd does not export", n)
		}
	}
}
