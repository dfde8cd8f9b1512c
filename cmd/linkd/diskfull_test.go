package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/linkd-dev/linkd/sqlite"
)

// TestReliabilityDiskFull runs the real binary with its SQLite data dir on a
// small tmpfs, fills the disk, and checks what the issue asks: writes answer
// 503 (not 500, and the server stays up), reads keep working, writes work
// again once space returns, every acknowledged account is there, and the
// database is intact (PRAGMA integrity_check). It mounts the tmpfs itself,
// which needs root: elsewhere it skips, saying so.
func TestReliabilityDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	bin := buildBinary(t)
	addr := freeAddr(t)
	base := "http://" + addr
	env := binEnv(map[string]string{"LINKD_DATA_DIR": dir, "LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0",
		"LINKD_LOG_LEVEL": "warn", "LINKD_ENCRYPTION_KEY": strings.Repeat("7e", 32)})
	key, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", "test")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	key = strings.TrimSpace(key)
	p := startLinkd(t, bin, env, base)

	create := func(id string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/v2/public/linked-account",
			strings.NewReader(fmt.Sprintf(`{"linked_account_id":%q,"name":%q}`, id, strings.Repeat("n", 200))))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("create %s: %v\n%s", id, err, p.logText())
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var acked []string
	for i := range 50 {
		id := fmt.Sprintf("before-%03d", i)
		if status, body := create(id); status != 200 {
			t.Fatalf("create %s: %d %s", id, status, body)
		}
		acked = append(acked, id)
	}

	// Fill what is left of the disk.
	ballast := filepath.Join(dir, "ballast")
	fillDisk(t, ballast)

	status, body := 0, ""
	for i := 0; i < 20000; i++ {
		id := fmt.Sprintf("during-%05d", i)
		status, body = create(id)
		if status != 200 {
			break
		}
		acked = append(acked, id)
	}
	t.Logf("first failed write on a full disk: %d %s", status, body)
	if status != 503 && status != 507 {
		t.Fatalf("a write on a full disk answered %d, want 503 or 507: %s\n%s", status, body, p.logText())
	}
	if !strings.Contains(body, "disk") {
		t.Errorf("the error does not say the disk is full: %s", body)
	}
	for _, id := range []string{acked[0], acked[len(acked)-1]} {
		if a := getJSON(t, base+"/api/v2/public/linked-account/"+id, key); a["account_id"] != id {
			t.Fatalf("read %s on a full disk: %v", id, a)
		}
	}
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the server died on a full disk: %v\n%s", err, p.logText())
	}

	// Space returns: writes work again, without a restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a write after space returned", func() bool {
		s, _ := create(fmt.Sprintf("after-%d", len(acked)))
		if s == 200 {
			acked = append(acked, fmt.Sprintf("after-%d", len(acked)))
		}
		return s == 200
	})
	list := getJSON(t, base+"/api/v2/public/linked-account?limit=1", key)
	if list["totalDocs"] != float64(len(acked)) {
		t.Errorf("totalDocs %v after the disk filled, %d acknowledged", list["totalDocs"], len(acked))
	}
	got := listAccounts(t, base, key)
	for _, id := range acked {
		if got[id] == nil {
			t.Errorf("acknowledged account %s is missing", id)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	info, err := sqlite.Inspect(t.Context(), filepath.Join(dir, "linkd.db"))
	if err != nil {
		t.Fatalf("the database after the disk filled: %v", err)
	}
	t.Logf("%d accounts acknowledged, %d in the database, integrity ok", len(acked), info.Accounts)
}

// fillDisk writes path until the filesystem has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// What a partial last block left.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}
