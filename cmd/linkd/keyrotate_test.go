package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestKeyRotateOnline rotates the master key of a serving linkd on each
// engine: the server restarts with the new key (the old one to open what
// it wrapped), clients go on reading and writing secrets while linkd key
// rotate runs, is killed with SIGKILL mid-way and run again; then every
// secret reads back from a server that has the new key alone, and the old
// key is refused.
func TestKeyRotateOnline(t *testing.T) {
	onEachEngine(t, testKeyRotate)
}

// saveKey connects account id to stripe with secret, creating the account.
func saveKey(base, key, id, secret string) error {
	for _, r := range []struct{ method, url, body string }{
		{"PUT", base + "/api/v2/public/linked-account", fmt.Sprintf(`{"linked_account_id":%q,"name":"N"}`, id)},
		{"PUT", base + "/api/v2/public/linked-account/integration/save-key-credentials/stripe?linked_account_id=" + id, fmt.Sprintf(`{"secret_key":%q}`, secret)},
	} {
		req, _ := http.NewRequest(r.method, r.url, strings.NewReader(r.body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s %s: %d", r.method, r.url, res.StatusCode)
		}
	}
	return nil
}

// readKey reads account id's stripe secret back through the API.
func readKey(base, key, id string) (string, error) {
	req, _ := http.NewRequest("GET", base+"/api/v2/public/linked-account/"+id+"/connection/stripe/credentials", nil)
	req.Header.Set("x-api-key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		Fields map[string]any `json:"fields"`
	}
	if res.StatusCode != 200 {
		return "", fmt.Errorf("credentials of %s: %d", id, res.StatusCode)
	}
	if err := jsonDecode(res, &out); err != nil {
		return "", err
	}
	s, _ := out.Fields["secret_key"].(string)
	return s, nil
}

func testKeyRotate(t *testing.T, bin string, tenv testEnv) {
	oldKey, newKey := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	addr := freeAddr(t)
	base := "http://" + addr
	settings := map[string]string{"LINKD_ADDR": addr, "LINKD_RATE_LIMIT": "0", "LINKD_ENCRYPTION_KEY": oldKey}
	for k, v := range tenv {
		settings[k] = v
	}
	env := binEnv(settings)
	apiKey, stderr, err := runBin(t, bin, env, "apikey", "create", "--env", "test")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr)
	}
	apiKey = strings.TrimSpace(apiKey)

	// Secrets sealed under the old key.
	want := map[string]string{}
	p := startLinkd(t, bin, env, base)
	for i := range 300 {
		id := fmt.Sprintf("old-%03d", i)
		want[id] = "sk_" + id
		if err := saveKey(base, apiKey, id, want[id]); err != nil {
			t.Fatal(err)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// The restart with the new key, the old one to open what it wrapped.
	settings["LINKD_ENCRYPTION_KEY"], settings["LINKD_DECRYPTION_KEYS"] = newKey, oldKey
	env = binEnv(settings)
	p = startLinkd(t, bin, env, base)
	if !strings.Contains(p.logText(), "run linkd key rotate") {
		t.Errorf("the server does not say a rotation is pending:\n%s", p.logText())
	}

	// Load: each client writes new secrets and reads old ones back.
	ctx, stop := context.WithCancel(t.Context())
	var mu sync.Mutex
	var loadErrs []string
	written := map[string]string{}
	var wg sync.WaitGroup
	for c := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("new-%d-%04d", c, i)
				err := saveKey(base, apiKey, id, "sk_"+id)
				if err == nil {
					mu.Lock()
					written[id] = "sk_" + id
					mu.Unlock()
					old := fmt.Sprintf("old-%03d", (i*7+c)%300)
					var got string
					if got, err = readKey(base, apiKey, old); err == nil && got != want[old] {
						err = fmt.Errorf("%s read %q", old, got)
					}
				}
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					loadErrs = append(loadErrs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}

	// Rotations killed with SIGKILL after a few batches each: one, or 20
	// at random moments in the long run (LINKD_TEST_LONG).
	kills := 1
	if os.Getenv("LINKD_TEST_LONG") != "" {
		kills = 20
	}
	debug := append(append([]string{}, env...), "LINKD_LOG_LEVEL=debug")
	for k := range kills {
		after := 1
		if k > 0 {
			after = 1 + rand.IntN(8)
		}
		cmd := exec.Command(bin, "key", "rotate", "--batch", "1")
		cmd.Env = debug
		pipe, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(pipe)
		for batches := 0; sc.Scan(); {
			if strings.Contains(sc.Text(), "re-wrapped a batch") {
				if batches++; batches == after {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		if err := cmd.Wait(); err == nil {
			t.Fatalf("rotation %d finished before its kill: the test has too few keys for %d kills", k+1, kills)
		}
	}

	out, stderr, err := runBin(t, bin, env, "key", "rotate")
	if err != nil {
		t.Fatalf("key rotate: %v\n%s%s", err, out, stderr)
	}
	t.Logf("after %d kills: %s", kills, out)
	var n, of int
	fmt.Sscanf(out, "re-wrapped %d of %d", &n, &of)
	if n == 0 || n >= 300 {
		t.Fatalf("the resumed rotation re-wrapped %d data keys: the kills did not land mid-way\n%s", n, out)
	}
	if !strings.Contains(out, "is retired") {
		t.Fatalf("key rotate output: %s", out)
	}
	stop()
	wg.Wait()
	if len(loadErrs) > 0 {
		t.Fatalf("%d requests failed during the rotation, e.g. %v", len(loadErrs), loadErrs[:min(3, len(loadErrs))])
	}
	if len(written) == 0 {
		t.Fatal("no secret was written during the rotation")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// The old key alone is refused; the new alone reads everything.
	delete(settings, "LINKD_DECRYPTION_KEYS")
	settings["LINKD_ENCRYPTION_KEY"] = oldKey
	if _, stderr, err := runBin(t, bin, binEnv(settings), "key", "rotate"); err == nil || !strings.Contains(stderr, "rotated away from") {
		t.Fatalf("the retired key was not refused: %v\n%s", err, stderr)
	}
	settings["LINKD_ENCRYPTION_KEY"] = newKey
	p = startLinkd(t, bin, binEnv(settings), base)
	for id, secret := range written {
		want[id] = secret
	}
	for id, secret := range want {
		if got, err := readKey(base, apiKey, id); err != nil || got != secret {
			t.Fatalf("%s after the rotation: %q, %v\n%s", id, got, err, p.logText())
		}
	}
	t.Logf("%d secrets read back with the new key alone (%d written during the rotation)", len(want), len(written))
}

func jsonDecode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }
