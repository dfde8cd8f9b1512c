package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImportSurvivesKill9 runs the real binary, kills it with SIGKILL in the
// middle of an import, starts it again and checks that the job finishes with
// every row accounted for exactly once: none lost, none doubled, and the
// counts equal to what the file holds.
func TestImportSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) { testKill9(t, bin, env) })
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running linkd serve.
type proc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	// out is what writes logs; logText reads them under its lock while
	// the process runs.
	out *syncWriter
}

// logText is what the process has logged so far.
func (p *proc) logText() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return p.logs.String()
}

func startLinkd(t *testing.T, bin string, env []string, base string) *proc {
	t.Helper()
	p := spawnLinkd(t, bin, env)
	waitReady(t, p, base)
	return p
}

// spawnLinkd starts linkd serve without waiting for it.
func spawnLinkd(t *testing.T, bin string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	logs := &bytes.Buffer{}
	out := &syncWriter{w: logs}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &proc{cmd: cmd, logs: logs, out: out}
}

// waitReady polls base's /readyz until it answers 200.
func waitReady(t *testing.T, p *proc, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("linkd did not become ready:\n%s", p.logText())
}

func getJSON(t *testing.T, url, key string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("x-api-key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func testKill9(t *testing.T, bin string, tenv testEnv) {
	addr := freeAddr(t)
	base := "http://" + addr
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_IMPORT_LEASE=1s", "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn")
	for k, v := range tenv {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(bin, "apikey", "create", "--env", "test")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("apikey create: %v", err)
	}
	key := strings.TrimSpace(string(out))

	// 200,000 distinct accounts, plus 5 repeated ids and 5 invalid rows
	// spread through the file; their record numbers are known.
	const n = 200_000
	var file bytes.Buffer
	file.WriteString("linked_account_id,name,udf.plan,udf.seats\n")
	wantErrRows := map[int]bool{}
	row := 1
	for i := range n {
		row++
		fmt.Fprintf(&file, "acct-%06d,Customer %d,pro,%d\n", i, i, i%100)
		if i%40_000 == 39_999 {
			row++
			fmt.Fprintf(&file, "acct-%06d,Repeated,pro,1\n", i-10) // a repeat: first row wins
			wantErrRows[row] = true
			row++
			file.WriteString(",no id,pro,1\n") // invalid
			wantErrRows[row] = true
		}
	}

	p := startLinkd(t, bin, env, base)
	req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account/import?filename=big.csv", bytes.NewReader(file.Bytes()))
	req.Header.Set("x-api-key", key)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	json.NewDecoder(res.Body).Decode(&job)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("upload: %d %v", res.StatusCode, job)
	}
	jobURL := base + "/api/v2/public/linked-account/import/" + job["_id"].(string)

	// Kill it once some batches have committed and before the end: at
	// 10,000 rows, and in the long run (LINKD_TEST_LONG) 19 more times, at
	// random row counts, each after its restart has taken the job over.
	rows := n + len(wantErrRows)
	killAt := []int{10_000}
	if testLong() {
		for len(killAt) < 20 {
			r := 12_000 + rand.IntN(rows-22_000)
			if !slices.ContainsFunc(killAt, func(k int) bool { return k > r-1_500 && k < r+1_500 }) {
				killAt = append(killAt, r)
			}
		}
		slices.Sort(killAt)
	}
	var atKill []float64
	for i, at := range killAt {
		if i > 0 {
			p = startLinkd(t, bin, env, base)
		}
		var now float64
		for deadline := time.Now().Add(60 * time.Second); ; {
			j := getJSON(t, jobURL, key)
			now = j["rows_processed"].(float64)
			if now >= float64(at) && (i == 0 || now > atKill[i-1]) {
				break
			}
			if j["state"] != "running" && j["state"] != "queued" {
				t.Fatalf("the import ended before kill %d: %v", i+1, j)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress: %v\n%s", j, p.logText())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		atKill = append(atKill, now)
		if now >= float64(rows) {
			t.Fatalf("the import finished (%v rows) before kill %d; the test proves nothing", now, i+1)
		}
	}

	// A new process resumes the job once the dead one's lease has run out.
	p = startLinkd(t, bin, env, base)
	var final map[string]any
	for deadline := time.Now().Add(120 * time.Second); ; {
		final = getJSON(t, jobURL, key)
		if final["state"] != "running" && final["state"] != "queued" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not finish after restart: %v\n%s", final, p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d kills, at %v of %d rows; after the last restart: %v created, %v failed", len(atKill), atKill, rows, final["created"], final["failed"])
	if final["state"] != "succeeded" || final["rows_processed"] != float64(n+len(wantErrRows)) ||
		final["created"] != float64(n) || final["failed"] != float64(len(wantErrRows)) || final["updated"] != float64(0) {
		t.Fatalf("after restart: %v", final)
	}
	for _, e := range final["errors"].([]any) {
		r := int(e.(map[string]any)["row"].(float64))
		if !wantErrRows[r] {
			t.Errorf("unexpected row error %v", e)
		}
		delete(wantErrRows, r)
	}
	if len(wantErrRows) != 0 {
		t.Errorf("rows without their error: %v", wantErrRows)
	}
	list := getJSON(t, base+"/api/v2/public/linked-account?limit=1", key)
	if list["totalDocs"] != float64(n) {
		t.Fatalf("%v accounts, want %d", list["totalDocs"], n)
	}
	for _, id := range []string{"acct-000000", "acct-039989", "acct-199999"} {
		a := getJSON(t, base+"/api/v2/public/linked-account/"+id, key)
		if a["account_id"] != id || strings.HasPrefix(fmt.Sprint(a["name"]), "Repeated") {
			t.Fatalf("%s = %v", id, a)
		}
	}

	// The job's counters equal a recount of the rows it wrote, and the
	// tenant's account count a recount of the accounts.
	db := openRecount(t, tenv)
	id := job["_id"].(string)
	var created, failed, processed int64
	if err := db.QueryRow(`SELECT created, failed, rows_processed FROM import_jobs WHERE id = '`+id+`'`).Scan(&created, &failed, &processed); err != nil {
		t.Fatal(err)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM linked_accounts WHERE import_job = '`+id+`'`); created != rc || rc != n {
		t.Errorf("the job counts %d created; a recount of its accounts %d, want %d", created, rc, n)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM import_errors WHERE job_id = '`+id+`'`); failed != rc {
		t.Errorf("the job counts %d failed; a recount of its row errors %d", failed, rc)
	}
	if processed != int64(rows) {
		t.Errorf("the job processed %d rows of %d", processed, rows)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM linked_accounts`); rc != n {
		t.Errorf("%d accounts in the database, want %d", rc, n)
	}
	checkCounters(t, db)
}

// buildBinary builds linkd into a temporary directory and returns its path:
// the tests that run the real binary (kill -9, the README's commands).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "linkd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}
