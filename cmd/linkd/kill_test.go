package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportSurvivesKill9 runs the real binary, kills it with SIGKILL in the
// middle of an import, starts it again and checks that the job finishes with
// every row accounted for exactly once: none lost, none doubled, and the
// counts equal to what the file holds.
func TestImportSurvivesKill9(t *testing.T) {
	onEachEngine(t, testKill9)
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

	// 200,000 distinct accounts (1,000,000 in the long run), plus 5
	// repeated ids and 5 invalid rows spread through the file; their record
	// numbers are known.
	n := 200_000
	if testLong() {
		n = 1_000_000
	}
	file, wantErrRows := importFile(n)
	rows := n + len(wantErrRows)

	p := startLinkd(t, bin, env, base)
	mem := newMemWatch(t, p)
	req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account/import?filename=big.csv", bytes.NewReader(file))
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
	uploaded := time.Now()
	if job["rows_total"] != float64(rows) {
		t.Fatalf("the upload counted %v rows of %d", job["rows_total"], rows)
	}
	id := job["_id"].(string)
	jobURL := base + "/api/v2/public/linked-account/import/" + id
	db := openRecount(t, tenv)

	var k *importKills
	// last is the most rows processed seen: the job's progress never goes
	// back, across kills and takeovers.
	var last float64
	if testLong() {
		// 20 kills at random moments, each after its restart has taken
		// the job over (importkills_test.go).
		k = &importKills{t: t, bin: bin, env: env, base: base, jobURL: jobURL, key: key, db: db, jobID: id, rows: int64(rows), mem: mem}
		p = k.run(p, uploaded, 20)
		last = k.lastSeen
		defer k.report()
	} else {
		// Kill it once some batches have committed and before the end.
		killAtRows(t, p, mem, jobURL, key, 10_000, rows)
		last = float64(recountImport(t, db, id))
		p = nil
	}

	// A new process resumes the job once the dead one's lease has run out
	// (in the long run it has already been started and has taken over).
	if p == nil {
		p = startLinkd(t, bin, env, base)
	}
	var final map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; {
		final = getJSON(t, jobURL, key)
		if final["state"] != "running" && final["state"] != "queued" {
			break
		}
		now := final["rows_processed"].(float64)
		if now < last {
			t.Errorf("the job's progress went back from %v to %v rows", last, now)
		}
		if now > last {
			// The deadline is for progress: the rest of a 1M-row file
			// takes minutes.
			last, deadline = now, time.Now().Add(60*time.Second)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not finish after restart: %v\n%s", final, p.logText())
		}
		mem.sample(p)
		time.Sleep(100 * time.Millisecond)
	}
	mem.sample(p)
	if k != nil {
		k.finishedAt = time.Now()
	}
	t.Logf("after the last restart: %v created, %v failed, %v rows processed, %v from the upload; %s",
		final["created"], final["failed"], final["rows_processed"], time.Since(uploaded).Round(time.Second), mem)
	if testLong() {
		mem.check(t)
	}
	if final["state"] != "succeeded" || final["rows_processed"] != float64(n+len(wantErrRows)) || final["progress"] != float64(1) ||
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
	// The first account, the first one repeated in the file (its first row
	// wins) and the last.
	for _, id := range []string{"acct-0000000", fmt.Sprintf("acct-%07d", n/5-11), fmt.Sprintf("acct-%07d", n-1)} {
		a := getJSON(t, base+"/api/v2/public/linked-account/"+id, key)
		if a["account_id"] != id || strings.HasPrefix(fmt.Sprint(a["name"]), "Repeated") {
			t.Fatalf("%s = %v", id, a)
		}
	}

	// The job's counters equal a recount of the rows it wrote, and the
	// tenant's account count a recount of the accounts.
	var created, failed, processed int64
	if err := db.QueryRow(`SELECT created, failed, rows_processed FROM import_jobs WHERE id = '`+id+`'`).Scan(&created, &failed, &processed); err != nil {
		t.Fatal(err)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM linked_accounts WHERE import_job = '`+id+`'`); created != rc || rc != int64(n) {
		t.Errorf("the job counts %d created; a recount of its accounts %d, want %d", created, rc, n)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM import_errors WHERE job_id = '`+id+`'`); failed != rc {
		t.Errorf("the job counts %d failed; a recount of its row errors %d", failed, rc)
	}
	if processed != int64(rows) {
		t.Errorf("the job processed %d rows of %d", processed, rows)
	}
	if rc := sqlCount(t, db, `SELECT count(*) FROM linked_accounts`); rc != int64(n) {
		t.Errorf("%d accounts in the database, want %d", rc, n)
	}
	checkCounters(t, db)
}

// onEachEngine builds the binary and runs fn with it on each engine, as a
// subtest named for the engine; it skips in -short mode.
func onEachEngine(t *testing.T, fn func(t *testing.T, bin string, env testEnv)) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) { fn(t, bin, env) })
	}
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
