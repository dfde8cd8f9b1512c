package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTwoInstancesDeliverOnce runs two real linkd binaries on one
// PostgreSQL database, with creates spread over both and both senders
// competing for the deliveries (each woken by the other's commits): every
// event reaches the receiver exactly once. Then one instance is killed
// with SIGKILL while deliveries flow and started again: no account is
// lost or doubled, every event arrives, and an event arrives twice only
// if its attempt was cut off by the kill, always with the same
// webhook-id and body.
func TestTwoInstancesDeliverOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two binaries")
	}
	tenv, ok := engines(t)["postgres"]
	if !ok {
		t.Skip("needs LINKD_TEST_POSTGRES_URL")
	}
	bin := buildBinary(t)

	var mu sync.Mutex
	got := map[string][]string{} // webhook-id → bodies received
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.Header.Get("webhook-id")] = append(got[r.Header.Get("webhook-id")], string(b))
		mu.Unlock()
	}))
	defer recv.Close()

	base := []string{"http://" + freeAddr(t), "http://" + freeAddr(t)}
	envOf := func(i int) []string {
		// One data directory, hence one master key, for both.
		env := append(os.Environ(), "LINKD_ADDR="+strings.TrimPrefix(base[i], "http://"), "LINKD_RATE_LIMIT=0",
			"LINKD_LOG_LEVEL=warn", "LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8")
		for k, v := range tenv {
			env = append(env, k+"="+v)
		}
		return env
	}
	cmd := exec.Command(bin, "apikey", "create", "--env", "test")
	cmd.Env = envOf(0)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("apikey create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	procs := []*proc{startLinkd(t, bin, envOf(0), base[0]), startLinkd(t, bin, envOf(1), base[1])}
	call := func(i int, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base[i]+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil // the instance was killed under the request
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	if status, made := call(0, "POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Linked Account Created"]}`); status != 200 {
		t.Fatalf("create webhook: %d %v", status, made)
	}
	// create makes accounts from..to-1, 8 at a time, alternating the
	// instances; with only set, through that instance alone.
	create := func(from, to int, only ...int) {
		var wg sync.WaitGroup
		ids := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range ids {
					inst := i % 2
					if len(only) > 0 {
						inst = only[0]
					}
					id := fmt.Sprintf("cust-%04d", i)
					if s, m := call(inst, "POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+id+`","name":"Customer"}`); s != 200 {
						t.Errorf("create %s on instance %d: %d %v", id, inst, s, m)
					}
				}
			})
		}
		for i := from; i < to; i++ {
			ids <- i
		}
		close(ids)
		wg.Wait()
	}
	received := func() (distinct, total int) {
		mu.Lock()
		defer mu.Unlock()
		for _, bodies := range got {
			distinct++
			total += len(bodies)
		}
		return distinct, total
	}
	waitDistinct := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			if d, _ := received(); d >= n {
				return
			}
			if time.Now().After(deadline) {
				d, tot := received()
				t.Fatalf("%d of %d events delivered (%d requests) after %s", d, n, tot, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Both instances up: exactly once.
	const n = 300
	create(0, n)
	waitDistinct(n, time.Minute)
	time.Sleep(500 * time.Millisecond) // a duplicate would be on its way by now
	if d, tot := received(); d != n || tot != n {
		t.Fatalf("two live instances: %d events, %d requests; want %d and %d", d, tot, n, n)
	}
	// Both senders took part (each is woken by its own commits and by
	// the other's notifications).
	for i := range base {
		res, err := http.Get(base[i] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var sent float64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `linkd_webhook_attempts_total{outcome="succeeded"} `); ok {
				fmt.Sscan(v, &sent)
			}
		}
		if sent == 0 {
			t.Errorf("instance %d delivered nothing: the other did all %d", i, n)
		}
		t.Logf("instance %d delivered %v of the first %d events", i, sent, n)
	}

	// Instance 1 killed while deliveries flow, then started again.
	var wg sync.WaitGroup
	wg.Go(func() { create(n, 2*n, 0) })
	for {
		if d, _ := received(); d > n+20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	procs[1].cmd.Process.Kill()
	procs[1].cmd.Wait()
	wg.Wait()
	procs[1] = startLinkd(t, bin, envOf(1), base[1])
	// A delivery the killed instance had claimed waits for its lease (one
	// minute) to run out.
	waitDistinct(2*n, 3*time.Minute)
	time.Sleep(500 * time.Millisecond)
	d, tot := received()
	t.Logf("after the kill: %d events, %d requests", d, tot)
	if d != 2*n {
		t.Fatalf("%d distinct events delivered, want %d", d, 2*n)
	}
	// Each duplicate is an attempt the kill cut off: at most the sender's
	// 16 at once, each the same body again.
	if tot-d > 16 {
		t.Fatalf("%d duplicate deliveries after one kill; at most 16 attempts were in flight", tot-d)
	}
	mu.Lock()
	for id, bodies := range got {
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Errorf("event %s delivered with different bodies:\n%s\n%s", id, bodies[0], b)
			}
		}
	}
	mu.Unlock()
	_, page := call(0, "GET", "/api/v2/public/linked-account?limit=1", "")
	if total, _ := page["totalDocs"].(float64); int(total) != 2*n {
		t.Fatalf("%v accounts after the kill, want %d", page["totalDocs"], 2*n)
	}
}
