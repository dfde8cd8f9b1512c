package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// newKey makes an API key for env with the CLI.
func newKey(t *testing.T, env testEnv, environment string) string {
	t.Helper()
	key, stderr, err := cli(t, env, "apikey", "create", "--env", environment)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(key)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readCSV parses a CSV file's records.
func readCSV(t *testing.T, data string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, data)
	}
	return recs
}

// jobCount is how many import jobs the key's environment has.
func jobCount(t *testing.T, base, key string) int {
	t.Helper()
	status, body := call(t, "GET", base+apiLinkedAccount+"/import?limit=100", key, nil)
	if status != 200 {
		t.Fatalf("list imports: %d %v", status, body)
	}
	return len(body["docs"].([]any))
}

func TestImportExport(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			key := newKey(t, env, "test")
			prod := newKey(t, env, "production")
			base, _ := serve(t, env)
			la := base + apiLinkedAccount
			env["LINKD_SERVER"] = base
			env["LINKD_API_KEY"] = key
			dir := t.TempDir()

			// Good and bad rows: the job succeeds, the command fails, and
			// the bad rows' errors are saved next to the file.
			mixed := writeFile(t, dir, "mixed.csv", "linked_account_id,name,udf.plan,udf.seats\n"+
				"u1,Acme,pro,3\n"+
				",No id,pro,1\n"+
				"u2,\"Beta, Inc.\",free,\n"+
				"u3,Gamma,pro,1,extra\n")
			stdout, stderr, err := cli(t, env, "import", mixed, "--env", "test")
			if err == nil || err.Error() != "2 of 4 rows failed" {
				t.Fatalf("import with bad rows: %v\n%s", err, stderr)
			}
			id := strings.TrimSpace(stdout)
			if _, perr := uuid.Parse(id); perr != nil {
				t.Fatalf("stdout is not the job id: %q", stdout)
			}
			for _, want := range []string{"imported mixed.csv", "4 rows; created 2, updated 0, unchanged 0, failed 2",
				"row 3 (linked_account_id): linked_account_id required", "row 5: row has 5 fields; the header has 4",
				"are in " + mixed + ".errors.csv"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if status, job := call(t, "GET", la+"/import/"+id, key, nil); status != 200 || job["state"] != "succeeded" || job["failed"] != float64(2) {
				t.Fatalf("job: %d %v", status, job)
			}
			errs, err := os.ReadFile(mixed + ".errors.csv")
			if err != nil {
				t.Fatal(err)
			}
			recs := readCSV(t, string(errs))
			if len(recs) != 3 || !slices.Equal(recs[0], []string{"row", "column", "linked_account_id", "message"}) ||
				recs[1][0] != "3" || recs[2][0] != "5" || recs[2][2] != "u3" {
				t.Fatalf("errors file:\n%s", errs)
			}
			if _, err := os.Stat(mixed + ".errors.csv.tmp"); !os.IsNotExist(err) {
				t.Errorf("the temporary errors file is left: %v", err)
			}

			// A clean file succeeds, and its accounts are there.
			clean := writeFile(t, dir, "clean.csv", "linked_account_id,name,udf.plan,udf.seats\nu10,Ten,pro,10\nu11,Eleven,,\n")
			stdout, stderr, err = cli(t, env, "import", "--env", "test", clean)
			if err != nil || !strings.Contains(stderr, "created 2, updated 0, unchanged 0, failed 0") {
				t.Fatalf("clean import: %v\n%s", err, stderr)
			}
			if strings.Count(stdout, "\n") != 1 {
				t.Errorf("stdout has more than the job id: %q", stdout)
			}
			if _, err := os.Stat(clean + ".errors.csv"); !os.IsNotExist(err) {
				t.Errorf("an errors file was written for a clean import: %v", err)
			}
			status, acc := call(t, "GET", la+"/u10", key, nil)
			if status != 200 || acc["name"] != "Ten" || udf(acc)["seats"] != float64(10) {
				t.Fatalf("imported account: %d %v", status, acc)
			}

			// A Windows-1252, ";"-separated file with columns to map: the
			// flags go through as the API's parameters.
			latin := writeFile(t, dir, "latin.csv", "Code;Company;Plan;Notes\nu30;Caf\xe9 M\xfcller;pro;x\n")
			stdout, stderr, err = cli(t, env, "import", latin, "--env", "test", "--delimiter", "semicolon", "--encoding", "windows-1252",
				"--map", "Code=linked_account_id", "--map", "Company=name", "--map", "Plan=udf.plan", "--map", "Notes=ignore")
			if err != nil {
				t.Fatalf("mapped import: %v\n%s", err, stderr)
			}
			if _, job := call(t, "GET", la+"/import/"+strings.TrimSpace(stdout), key, nil); job["delimiter"] != "semicolon" ||
				job["encoding"] != "windows-1252" || job["mapping"].(map[string]any)["Plan"] != "udf.plan" {
				t.Fatalf("mapped job: %v", job)
			}
			if _, acc := call(t, "GET", la+"/u30", key, nil); acc["name"] != "Café Müller" || udf(acc)["plan"] != "pro" {
				t.Fatalf("mapped account: %v", acc)
			}
			if _, _, err := cli(t, env, "import", latin, "--env", "test", "--map", "Plan"); err == nil || !strings.Contains(err.Error(), "HEADER=TARGET") {
				t.Fatalf("--map without a target: %v", err)
			}

			// Upsert with a dry run counts what would change and writes nothing.
			change := writeFile(t, dir, "change.csv", "linked_account_id,name\nu10,Renamed\nu11,Eleven\nu20,New\n")
			_, stderr, err = cli(t, env, "import", change, "--env", "test", "--mode", "upsert", "--dry-run")
			if err != nil || !strings.Contains(stderr, "checked change.csv") || !strings.Contains(stderr, "created 1, updated 1, unchanged 1, failed 0") ||
				!strings.Contains(stderr, "dry run: nothing was written") {
				t.Fatalf("dry run: %v\n%s", err, stderr)
			}
			if status, _ := call(t, "GET", la+"/u20", key, nil); status != 404 {
				t.Fatalf("a dry run created an account: %d", status)
			}
			if _, acc := call(t, "GET", la+"/u10", key, nil); acc["name"] != "Ten" {
				t.Fatalf("a dry run changed an account: %v", acc)
			}

			// A production key with --env test is refused before anything is
			// sent: no job appears in either environment.
			before := jobCount(t, base, key)
			_, _, err = cli(t, env, "import", clean, "--env", "test", "--api-key", prod)
			if err == nil || !strings.Contains(err.Error(), "production key") || !strings.Contains(err.Error(), "nothing was sent") {
				t.Fatalf("mismatched key: %v", err)
			}
			if _, _, err = cli(t, env, "export", "--env", "production"); err == nil || !strings.Contains(err.Error(), "test key") {
				t.Fatalf("export with mismatched key: %v", err)
			}
			if n := jobCount(t, base, key); n != before {
				t.Fatalf("jobs went from %d to %d", before, n)
			}
			if n := jobCount(t, base, prod); n != 0 {
				t.Fatalf("production has %d jobs", n)
			}

			// A file the server refuses as a whole: its error, with the field.
			bad := writeFile(t, dir, "bad.csv", "ident,nme\n1,a\n")
			if _, _, err = cli(t, env, "import", bad, "--env", "test"); err == nil ||
				!strings.Contains(err.Error(), `unknown column(s) "ident", "nme"`) || !strings.HasSuffix(err.Error(), "(field header)") {
				t.Fatalf("bad header: %v", err)
			}
			// A key the server does not know.
			if _, _, err = cli(t, env, "import", clean, "--env", "test", "--api-key", "tk_"+strings.Repeat("x", 43)); err == nil ||
				err.Error() != "Invalid Credentials (field x-api-key)" {
				t.Fatalf("unknown key: %v", err)
			}
			if n := jobCount(t, base, key); n != before {
				t.Fatalf("refused uploads left jobs: %d, was %d", n, before)
			}

			// --no-wait returns the id once the file is in.
			nowait := writeFile(t, dir, "nowait.csv", "linked_account_id\nu30\n")
			stdout, _, err = cli(t, env, "import", nowait, "--env", "test", "--no-wait")
			if err != nil {
				t.Fatal(err)
			}
			waitJob(t, la+"/import/"+strings.TrimSpace(stdout), key)

			// Export → import into production → export gives the same rows,
			// with values that need care in CSV and in spreadsheets.
			tricky := writeFile(t, dir, "tricky.csv", "linked_account_id,name,udf.n,udf.flag,udf.code,udf.note\n"+
				"t1,\"Quote \"\"q\"\", comma\",42,true,'007,\"=1+1\nsecond line\"\n"+
				"t2,'=SUM(A1),-1.5,false,'true,'quoted\n"+
				"t3,Ünïcødé ✓,,,,\n")
			if _, stderr, err = cli(t, env, "import", tricky, "--env", "test"); err != nil {
				t.Fatalf("tricky import: %v\n%s", err, stderr)
			}
			exported := filepath.Join(dir, "test-export.csv")
			_, stderr, err = cli(t, env, "export", "--env", "test", "-o", exported)
			if err != nil || !strings.Contains(stderr, "exported 8 rows to "+exported) {
				t.Fatalf("export: %v\n%s", err, stderr)
			}
			if _, err := os.Stat(exported + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("the temporary export file is left: %v", err)
			}
			penv := testEnv{"LINKD_SERVER": base, "LINKD_API_KEY": prod}
			if _, stderr, err = cli(t, penv, "import", exported, "--env", "production"); err != nil || !strings.Contains(stderr, "created 8,") {
				t.Fatalf("import into production: %v\n%s", err, stderr)
			}
			again, stderr, err := cli(t, penv, "export", "--env", "production")
			if err != nil || !strings.Contains(stderr, "exported 8 rows") {
				t.Fatalf("export production: %v\n%s", err, stderr)
			}
			first, _ := os.ReadFile(exported)
			want, got := readCSV(t, string(first)), readCSV(t, again)
			if !slices.Equal(want[0], got[0]) {
				t.Fatalf("headers differ:\n%v\n%v", want[0], got[0])
			}
			cmp := func(a, b []string) int { return strings.Compare(a[0], b[0]) }
			slices.SortFunc(want[1:], cmp)
			slices.SortFunc(got[1:], cmp)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("round trip differs:\n%q\n%q", want, got)
			}
			_, t1 := call(t, "GET", la+"/t1", prod, nil)
			if t1["name"] != "Quote \"q\", comma" || udf(t1)["note"] != "=1+1\nsecond line" || udf(t1)["code"] != "007" || udf(t1)["n"] != float64(42) {
				t.Fatalf("t1 in production: %v", t1)
			}

			// Filters reach the server.
			out, stderr, err := cli(t, env, "export", "--env", "test", "--udf", "plan=pro", "--q", "u1")
			if err != nil || !strings.Contains(stderr, "exported 2 rows") {
				t.Fatalf("filtered export: %v\n%s", err, stderr)
			}
			if recs := readCSV(t, out); len(recs) != 3 || recs[1][0] != "u1" || recs[2][0] != "u10" {
				t.Fatalf("filtered export: %q", recs)
			}
			if _, _, err = cli(t, env, "export", "--env", "test", "--created-after", "yesterday"); err == nil ||
				!strings.HasSuffix(err.Error(), "(field created_after)") {
				t.Fatalf("bad filter: %v", err)
			}
		})
	}
}

// udf returns an account's fields (a list on the wire) as a map.
func udf(acc map[string]any) map[string]any {
	out := map[string]any{}
	list, _ := acc["udf"].([]any)
	for _, u := range list {
		if m, ok := u.(map[string]any); ok {
			out[m["key_name"].(string)] = m["key_value"]
		}
	}
	return out
}

// waitJob polls a job until it ends and returns it.
func waitJob(t *testing.T, url, key string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		status, job := call(t, "GET", url, key, nil)
		if status != 200 {
			t.Fatalf("job: %d %v", status, job)
		}
		switch job["state"] {
		case "succeeded", "failed", "cancelled":
			return job
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the job did not end")
	return nil
}

// TestImportStdin imports from standard input: a pipe (size unknown, sent
// chunked) and a redirected file; the errors go to the working directory.
func TestImportStdin(t *testing.T) {
	env := engines(t)["sqlite"]
	key := newKey(t, env, "test")
	base, _ := serve(t, env)
	env["LINKD_SERVER"], env["LINKD_API_KEY"] = base, key
	dir := t.TempDir()
	t.Chdir(dir)

	var stdout, stderr bytes.Buffer
	err := runImport(t.Context(), []string{"-", "--env", "test"}, env.get,
		strings.NewReader("linked_account_id,name\ns1,One\ns2,Two\n,Nobody\n"), &stdout, &stderr)
	if err == nil || err.Error() != "1 of 3 rows failed" || !strings.Contains(stderr.String(), "imported standard input") {
		t.Fatalf("stdin import: %v\n%s", err, stderr.String())
	}
	id := strings.TrimSpace(stdout.String())
	errs, err := os.ReadFile(filepath.Join(dir, "import-"+id+"-errors.csv"))
	if err != nil || !strings.Contains(string(errs), "4,linked_account_id,,linked_account_id required") {
		t.Fatalf("errors file: %v\n%s", err, errs)
	}
	if status, acc := call(t, "GET", base+apiLinkedAccount+"/s2", key, nil); status != 200 || acc["name"] != "Two" {
		t.Fatalf("s2: %d %v", status, acc)
	}

	f, err := os.Open(writeFile(t, dir, "in.csv", "linked_account_id\ns3\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout.Reset()
	stderr.Reset()
	if err := runImport(t.Context(), []string{"--env", "test", "-"}, env.get, f, &stdout, &stderr); err != nil {
		t.Fatalf("redirected stdin: %v\n%s", err, stderr.String())
	}
	if status, _ := call(t, "GET", base+apiLinkedAccount+"/s3", key, nil); status != 200 {
		t.Fatalf("s3: %d", status)
	}
}

func TestTransferCLIErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "a.csv", "linked_account_id\na\n")
	key := "tk_" + strings.Repeat("x", 43)
	env := testEnv{"LINKD_SERVER": "http://127.0.0.1:1", "LINKD_API_KEY": key}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--env", "test"}, "needs one FILE"},
		{[]string{"import", file, file, "--env", "test"}, "needs one FILE"},
		{[]string{"import", file}, "--env is required"},
		{[]string{"import", file, "--env", "staging"}, "environment must be"},
		{[]string{"import", file, "--env", "test", "--mode", "merge"}, "must be create or upsert"},
		{[]string{"import", file, "--env", "production"}, "the API key is a test key (tk_…) but --env is production"},
		{[]string{"import", file, "--env", "test", "--api-key", "sk_live_abc"}, "not a linkd key"},
		{[]string{"import", filepath.Join(dir, "missing.csv"), "--env", "test"}, "no such file"},
		{[]string{"import", dir, "--env", "test"}, "is a directory"},
		{[]string{"import", file, "--env", "test", "--server", "localhost:8080"}, "must be an absolute http(s) URL"},
		{[]string{"import", file, "--env", "test"}, "cannot connect to linkd at http://127.0.0.1:1"},
		{[]string{"import", file, "--env", "test", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"export", "--env", "test", "extra"}, `unexpected argument "extra"`},
		{[]string{"export", "--env", "test", "--udf", "plan"}, "want KEY=VALUE"},
		{[]string{"export", "--env", "test"}, "cannot connect"},
	} {
		_, stderr, err := cli(t, env, c.args...)
		if err == nil || !strings.Contains(err.Error()+stderr, c.want) {
			t.Errorf("linkd %q: %v (want %q)\n%s", c.args, err, c.want, stderr)
		}
	}
	_, _, err := cli(t, testEnv{"LINKD_SERVER": "http://127.0.0.1:1"}, "export", "--env", "test")
	if err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Errorf("no key: %v", err)
	}
	// -h must not show the key from the environment as a default.
	_, stderr, _ := cli(t, env, "import", "-h")
	if strings.Contains(stderr, key) || !strings.Contains(stderr, "--errors-out PATH") {
		t.Errorf("import -h:\n%s", stderr)
	}
}

func TestDefaultServer(t *testing.T) {
	for _, c := range []struct {
		env  testEnv
		want string
	}{
		{testEnv{}, "http://127.0.0.1:8080"},
		{testEnv{"LINKD_ADDR": "10.0.0.5:9000"}, "http://10.0.0.5:9000"},
		{testEnv{"LINKD_ADDR": ":9000"}, "http://127.0.0.1:9000"},
		{testEnv{"LINKD_ADDR": "0.0.0.0:9000"}, "http://127.0.0.1:9000"},
		{testEnv{"LINKD_ADDR": "[::]:9000"}, "http://127.0.0.1:9000"},
		{testEnv{"LINKD_ADDR": ":9000", "LINKD_PUBLIC_URL": "https://linkd.example.com"}, "https://linkd.example.com"},
		{testEnv{"LINKD_PUBLIC_URL": "https://linkd.example.com", "LINKD_SERVER": "http://10.1.1.1:8080"}, "http://10.1.1.1:8080"},
	} {
		if got := defaultServer(c.env.get); got != c.want {
			t.Errorf("defaultServer(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

func TestClientFlagsInterspersed(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  []string
		env  string
	}{
		{[]string{"a.csv", "--env", "test"}, []string{"a.csv"}, "test"},
		{[]string{"--env", "test", "a.csv"}, []string{"a.csv"}, "test"},
		{[]string{"-", "--env", "test"}, []string{"-"}, "test"},
		{[]string{"--env", "test", "--", "--odd.csv"}, []string{"--odd.csv"}, "test"},
		{[]string{"a", "--env", "production", "b"}, []string{"a", "b"}, "production"},
	} {
		f := newClientFlags("import", "", testEnv{}.get, &bytes.Buffer{})
		pos, err := f.parse(c.args)
		if err != nil || !slices.Equal(pos, c.pos) || f.env != c.env {
			t.Errorf("parse(%q) = %q, env %q, %v", c.args, pos, f.env, err)
		}
	}
}

func TestProgress(t *testing.T) {
	// A terminal gets one line redrawn in place, with a bar.
	var b bytes.Buffer
	p := &progress{w: &b, tty: true, lastStep: -1}
	t0 := time.Now()
	job := &importJob{State: "running", Mode: "create", RowsTotal: 1_000_000}
	p.job("customers.csv", job, t0)
	job.RowsProcessed, job.Created, job.Failed, job.Progress = 680_000, 679_990, 10, 0.68
	p.job("customers.csv", job, t0.Add(4*time.Second))
	p.finish()
	want := "\rimporting customers.csv  ░░░░░░░░░░ 0%  0/1,000,000 rows  created 0 failed 0\x1b[K" +
		"\rimporting customers.csv  ██████░░░░ 68%  680,000/1,000,000 rows  170,000 rows/s  ETA 2s  created 679,990 failed 10\x1b[K\n"
	if b.String() != want {
		t.Errorf("terminal:\n%q\nwant\n%q", b.String(), want)
	}
	// A narrow terminal gets the line cut to fit.
	b.Reset()
	p = &progress{w: &b, tty: true, width: 20, lastStep: -1}
	p.upload("customers.csv", 512, 2048, t0)
	if b.String() != "\ruploading customers\x1b[K" {
		t.Errorf("narrow terminal: %q", b.String())
	}

	// Elsewhere, plain lines: every tenth of the way or every 2 s.
	b.Reset()
	p = &progress{w: &b, lastStep: -1}
	job = &importJob{State: "running", Mode: "upsert", RowsTotal: 1000}
	for i, ms := range []int{0, 400, 800, 1200, 2100, 2500, 2900} {
		job.RowsProcessed = int64(i * 15)
		job.Progress = float64(job.RowsProcessed) / 1000
		p.job("f.csv", job, t0.Add(time.Duration(ms)*time.Millisecond))
	}
	job.RowsProcessed, job.Progress, job.State = 1000, 1, "succeeded"
	p.job("f.csv", job, t0.Add(3*time.Second))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "importing f.csv  0%  0/1,000 rows") ||
		!strings.HasPrefix(lines[1], "importing f.csv  6%  60/1,000 rows") || // 2 s after the first
		lines[2] != "importing f.csv  100%  1,000/1,000 rows  333 rows/s  created 0 updated 0 unchanged 0 failed 0" {
		t.Errorf("plain lines:\n%s", b.String())
	}
	if strings.ContainsAny(b.String(), "\r█") {
		t.Errorf("plain output has terminal controls: %q", b.String())
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{512: "512 B", 1536: "1.5 KiB", 10 << 20: "10 MiB", 3 << 30: "3.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
	for secs, want := range map[float64]string{0.2: "1s", 1.5: "2s", 65: "1m5s", 7300: "2h2m0s"} {
		if got := eta(secs); got != want {
			t.Errorf("eta(%v) = %q, want %q", secs, got, want)
		}
	}
	var rc recordCounter
	rc.Write([]byte("id,name\na,\"multi\nline, \"\"quoted\"\"\"\nb,"))
	rc.Write([]byte("plain\n"))
	if rc.records != 3 {
		t.Errorf("records = %d, want 3", rc.records)
	}
}
