package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/sqlite"
)

// binEnv is the environment of a real linkd process: the test's own
// variables (PATH, HOME, the Go caches) and the settings given.
func binEnv(settings map[string]string) []string {
	env := os.Environ()
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	return env
}

// runBin runs one linkd command of the built binary and returns its stdout
// and stderr.
func runBin(t *testing.T, bin string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// writeLoad creates accounts through the API from several clients until
// stopped. Each account's name is derived from its id, so a copy can be
// checked row by row.
type writeLoad struct {
	mu sync.Mutex
	// acked are the ids whose create was answered 200; started those
	// whose create was sent (acked or not).
	acked, started map[string]bool
	errs           []string
	stop           context.CancelFunc
	done           sync.WaitGroup
}

func startWriteLoad(t *testing.T, base, key string, clients int) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writeLoad{acked: map[string]bool{}, started: map[string]bool{}, stop: cancel}
	for c := range clients {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("load-%d-%06d", c, i)
				w.mu.Lock()
				w.started[id] = true
				w.mu.Unlock()
				body := fmt.Sprintf(`{"linked_account_id":%q,"name":"Name of %s","udf":{"n":"%d"}}`, id, id, i)
				req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account", strings.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				w.mu.Lock()
				switch {
				case err != nil:
					w.errs = append(w.errs, err.Error())
				case res.StatusCode != 200:
					w.errs = append(w.errs, fmt.Sprintf("%s: %d", id, res.StatusCode))
				default:
					w.acked[id] = true
				}
				w.mu.Unlock()
				if res != nil {
					res.Body.Close()
				}
			}
		}()
	}
	t.Cleanup(w.finish)
	return w
}

// snapshot copies the acked and started sets as they are now.
func (w *writeLoad) snapshot() (acked, started map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	acked, started = map[string]bool{}, map[string]bool{}
	for id := range w.acked {
		acked[id] = true
	}
	for id := range w.started {
		started[id] = true
	}
	return acked, started
}

func (w *writeLoad) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writeLoad) finish() { w.stop(); w.done.Wait() }

// listAccounts pages through every account of the key's tenant.
func listAccounts(t *testing.T, base, key string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for page := 1; ; page++ {
		body := getJSON(t, fmt.Sprintf("%s/api/v2/public/linked-account?limit=100&page=%d", base, page), key)
		docs, _ := body["docs"].([]any)
		for _, d := range docs {
			a := d.(map[string]any)
			out[a["account_id"].(string)] = a
		}
		if len(docs) < 100 {
			if total := body["totalDocs"]; total != float64(len(out)) {
				t.Fatalf("totalDocs %v, but %d accounts listed", total, len(out))
			}
			return out
		}
	}
}

// TestBackupUnderLoadRestores backs up the SQLite database of a running
// server while clients create accounts, restores the backup into a new
// data dir and starts a server on it: the copy holds every account created
// before the backup began, none that was never sent, each with what was
// written, and its counters agree with its rows. Restore refuses to replace
// a database in use or one that holds data without --force.
func TestBackupUnderLoadRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{
		"LINKD_DATA_DIR": t.TempDir(), "LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_LOG_LEVEL": "warn",
		"LINKD_ENCRYPTION_KEY": strings.Repeat("5a", 32),
	}
	env := binEnv(settings)
	key, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", "test")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	key = strings.TrimSpace(key)
	p := startLinkd(t, bin, env, base)

	load := startWriteLoad(t, base, key, 4)
	waitFor(t, "300 accounts", func() bool { return load.count() >= 300 })
	before, _ := load.snapshot()
	file := filepath.Join(t.TempDir(), "linkd.backup")
	start := time.Now()
	out, stderr, err := runBin(t, bin, env, "backup", file)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("backup: %v\n%s%s\n%s", err, out, stderr, p.logText())
	}
	_, sent := load.snapshot()
	waitFor(t, "writes after the backup", func() bool { return load.count() >= len(sent)+100 })
	load.finish()
	if len(load.errs) > 0 {
		t.Fatalf("writes failed during the backup: %v", load.errs[:min(5, len(load.errs))])
	}
	t.Logf("backup under load: %s (%d accounts acked before it began, %d sent by its end)\n%s", took, len(before), len(sent), out)
	if !strings.Contains(out, "backed up") || !strings.Contains(out, "master key id") {
		t.Fatalf("backup output: %q", out)
	}
	if _, _, err := runBin(t, bin, env, "backup", file); err == nil {
		t.Fatal("backup overwrote an existing file")
	}

	// Restoring over the running server's database is refused, even
	// with --force: the server would go on writing to the old file.
	if _, stderr, err := runBin(t, bin, env, "restore", file, "--force"); err == nil || !strings.Contains(stderr, "stop every process using it") {
		t.Fatalf("restore over a running server: %v\n%s", err, stderr)
	}

	// Into a fresh data dir.
	settings2 := map[string]string{}
	for k, v := range settings {
		settings2[k] = v
	}
	addr2 := freeAddr(t)
	settings2["LINKD_DATA_DIR"], settings2["LINKD_ADDR"] = t.TempDir(), addr2
	env2 := binEnv(settings2)
	out, stderr, err = runBin(t, bin, env2, "restore", file)
	if err != nil || !strings.Contains(out, "restored") || strings.Contains(out, "kept as") {
		t.Fatalf("restore: %v\n%s%s", err, out, stderr)
	}
	t.Logf("restore: %s", out)
	if info, err := sqlite.Inspect(t.Context(), filepath.Join(settings2["LINKD_DATA_DIR"], "linkd.db")); err != nil {
		t.Fatalf("restored file: %v", err)
	} else if info.Accounts < int64(len(before)) {
		t.Fatalf("restored %d accounts, fewer than the %d acked before the backup", info.Accounts, len(before))
	}
	base2 := "http://" + addr2
	p2 := startLinkd(t, bin, env2, base2)
	got := listAccounts(t, base2, key)
	for id := range before {
		if got[id] == nil {
			t.Errorf("account %s, created before the backup, is missing from it", id)
		}
	}
	for id, a := range got {
		if !sent[id] {
			t.Errorf("account %s in the backup was never sent before it ended", id)
		}
		if a["name"] != "Name of "+id {
			t.Errorf("account %s restored as %v", id, a)
		}
	}
	t.Logf("restored %d accounts (%d acked before the backup began, %d sent by its end)", len(got), len(before), len(sent))

	// Over a database with data: refused without --force, kept with it.
	p2.cmd.Process.Kill()
	p2.cmd.Wait()
	if _, stderr, err := runBin(t, bin, env2, "restore", file); err == nil || !strings.Contains(stderr, "add --force") {
		t.Fatalf("restore over data without --force: %v\n%s", err, stderr)
	}
	out, stderr, err = runBin(t, bin, env2, "restore", file, "--force")
	if err != nil || !strings.Contains(out, "kept as") {
		t.Fatalf("restore --force: %v\n%s%s", err, out, stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(settings2["LINKD_DATA_DIR"], "linkd.db.before-restore-*"))
	if len(kept) != 1 {
		t.Fatalf("the replaced database was not kept: %v", kept)
	}
	if info, err := sqlite.Inspect(t.Context(), kept[0]); err != nil || info.Accounts != int64(len(got)) {
		t.Fatalf("the kept database: %+v %v", info, err)
	}
}

// TestBackupOnPostgresSaysHow: on PostgreSQL, backup and restore do nothing
// and name PostgreSQL's own tools.
func TestBackupOnPostgresSaysHow(t *testing.T) {
	env := testEnv{"LINKD_DATA_DIR": t.TempDir(), "LINKD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
	for _, args := range [][]string{{"backup", "x.dump"}, {"restore", "x.dump"}} {
		_, _, err := cli(t, env, args...)
		if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "pg_restore") {
			t.Errorf("%v on PostgreSQL: %v", args, err)
		}
	}
	for _, args := range [][]string{{"backup"}, {"restore"}, {"backup", "a", "b"}} {
		if _, _, err := cli(t, testEnv{"LINKD_DATA_DIR": t.TempDir()}, args...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestRestoreNamesTheKey: restore says which master key the backup needs,
// and warns when the one configured for the target is another.
func TestRestoreNamesTheKey(t *testing.T) {
	src := testEnv{"LINKD_DATA_DIR": t.TempDir(), "LINKD_ENCRYPTION_KEY": strings.Repeat("11", 32), "LINKD_LOG_LEVEL": "warn"}
	_, stop := serve(t, src) // pins the master key's id in the database
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.db")
	if _, _, err := cli(t, src, "backup", file); err != nil {
		t.Fatal(err)
	}
	for key, warn := range map[string]bool{strings.Repeat("11", 32): false, strings.Repeat("22", 32): true} {
		dst := testEnv{"LINKD_DATA_DIR": t.TempDir(), "LINKD_ENCRYPTION_KEY": key}
		got, _, err := cli(t, dst, "restore", file)
		if err != nil || !strings.Contains(got, "key id") || strings.Contains(got, "warning:") != warn {
			t.Errorf("restore with key %s…: %v\n%q", key[:4], err, got)
		}
	}
}
