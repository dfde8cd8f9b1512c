package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhooksSurviveRepeatedKill9 is the long form of
// TestWebhooksSurviveKill9 (LINKD_TEST_LONG only): creates flow from 4
// clients and their events to a healthy receiver while the server is killed
// with SIGKILL 20 times at random moments and started again. Afterwards every
// account that exists (each acknowledged create, and any cut-off one that
// committed) has had its Linked Account Created event delivered, under one
// webhook-id with one body however often it was sent; no event arrived for
// an account that does not exist; and the account count equals the
// accounts there are.
func TestWebhooksSurviveRepeatedKill9(t *testing.T) {
	if testing.Short() || !testLong() {
		t.Skip("long target only (LINKD_TEST_LONG=1): 20 kills")
	}
	bin := buildBinary(t)
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) { testWebhookKills(t, bin, env, 20) })
	}
}

func testWebhookKills(t *testing.T, bin string, tenv testEnv, kills int) {
	var mu sync.Mutex
	idOf := map[string]string{}   // account → webhook-id
	bodyOf := map[string]string{} // webhook-id → body
	sends := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		json.Unmarshal(b, &p)
		account, _ := p["linked_account_id"].(string)
		id := r.Header.Get("webhook-id")
		mu.Lock()
		sends++
		if prev, ok := idOf[account]; ok && prev != id {
			t.Errorf("%s's creation arrived under two webhook-ids: %s and %s", account, prev, id)
		}
		if prev, ok := bodyOf[id]; ok && prev != string(b) {
			t.Errorf("webhook-id %s repeated with another body", id)
		}
		idOf[account], bodyOf[id] = id, string(b)
		mu.Unlock()
	}))
	defer recv.Close()

	addr := freeAddr(t)
	base := "http://" + addr
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "LINKD_WEBHOOK_RETRY_SCHEDULE="+strings.Repeat("1s,", 29)+"1s")
	for k, v := range tenv {
		env = append(env, k+"="+v)
	}
	key := newKey(t, tenv, "test")
	client := &http.Client{Timeout: 20 * time.Second}
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, nil // killed under the request
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	p := startLinkd(t, bin, env, base)
	if s, m := call("POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Linked Account Created"]}`); s != 200 {
		t.Fatalf("create webhook: %d %v", s, m)
	}

	var (
		stop            atomic.Bool
		wg              sync.WaitGroup
		seq             atomic.Int64
		amu             sync.Mutex
		acked, attempts []string
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				id := fmt.Sprintf("wk-%06d", seq.Add(1))
				amu.Lock()
				attempts = append(attempts, id)
				amu.Unlock()
				if s, _ := call("POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+id+`","name":"Customer"}`); s == 200 {
					amu.Lock()
					acked = append(acked, id)
					amu.Unlock()
				} else if s == 0 {
					time.Sleep(50 * time.Millisecond) // the server is down
				} else {
					t.Errorf("create %s: %d", id, s)
				}
			}
		})
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for range kills {
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		sigkill(t, p)
		p = startLinkd(t, bin, env, base)
	}
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()

	// Which accounts exist: the acknowledged ones must; a cut-off one may.
	exists := map[string]bool{}
	for _, id := range attempts {
		s, a := call("GET", "/api/v2/public/linked-account/"+id, "")
		switch {
		case s == 200 && a["account_id"] == id:
			exists[id] = true
		case s != 404:
			t.Fatalf("GET %s: %d %v", id, s, a)
		}
	}
	for _, id := range acked {
		if !exists[id] {
			t.Errorf("acknowledged %s is gone", id)
		}
	}
	total, _ := getJSON(t, base+"/api/v2/public/linked-account?limit=1", key)["totalDocs"].(float64)
	if int(total) != len(exists) {
		t.Errorf("totalDocs %v, %d accounts exist", total, len(exists))
	}
	// Every existing account's event arrives (a delivery in flight at a
	// kill waits for its 30 s lease); none for an account that does not.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		missing := 0
		for id := range exists {
			if _, ok := idOf[id]; !ok {
				missing++
			}
		}
		var ghosts []string
		for id := range idOf {
			if !exists[id] {
				ghosts = append(ghosts, id)
			}
		}
		n, distinct := sends, len(idOf)
		mu.Unlock()
		if len(ghosts) > 0 {
			t.Fatalf("events arrived for accounts that do not exist: %v", ghosts)
		}
		if missing == 0 {
			t.Logf("%d kills: %d creates sent, %d acknowledged, %d exist (%d of the cut-off ones committed); %d events, %d sends (%d repeats)",
				kills, len(attempts), len(acked), len(exists), len(exists)-len(acked), distinct, n, n-distinct)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accounts' events never arrived:\n%s", missing, len(exists), p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
