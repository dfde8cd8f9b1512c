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
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestWebhooksSurviveKill9 runs the real binary, makes changes through the
// API while the receiver answers 503 (so their deliveries stay pending),
// kills the server with SIGKILL right after the last commit, and starts a
// new one on the same database with the receiver answering 200: every
// event of a committed change arrives (at least once, the same webhook-id
// on every repeat, one delivery per event), and the change that rolled
// back (a create of an id that exists, answered 400) never does.
func TestWebhooksSurviveKill9(t *testing.T) {
	onEachEngine(t, testWebhookKill9)
}

// hookHit is one request the receiver got.
type hookHit struct {
	id, event, account string
	body               string
	answered           int
}

func testWebhookKill9(t *testing.T, bin string, tenv testEnv) {
	var healthy atomic.Bool
	var mu sync.Mutex
	var hits []hookHit
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		json.Unmarshal(b, &p)
		h := hookHit{id: r.Header.Get("webhook-id"), body: string(b), answered: 503}
		h.event, _ = p["event"].(string)
		h.account, _ = p["linked_account_id"].(string)
		if healthy.Load() {
			h.answered = 200
		}
		mu.Lock()
		hits = append(hits, h)
		mu.Unlock()
		w.WriteHeader(h.answered)
	}))
	defer recv.Close()

	addr := freeAddr(t)
	base := "http://" + addr
	// Retries every second (with jitter), enough of them to outlast the
	// first server's short life.
	env := append(os.Environ(), "LINKD_ADDR="+addr, "LINKD_RATE_LIMIT=0", "LINKD_LOG_LEVEL=warn",
		"LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "LINKD_WEBHOOK_RETRY_SCHEDULE="+strings.Repeat("1s,", 29)+"1s")
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
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}

	p := startLinkd(t, bin, env, base)
	status, made := call("POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook",`+
		`"webhook_events":["Linked Account Created","Linked Account Updated","Linked Account Deleted"]}`)
	if status != 200 {
		t.Fatalf("create webhook: %d %v", status, made)
	}
	hook := made["_id"].(string)
	const n = 40
	want := map[string]bool{} // event|account
	create := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("cust-%02d", i)
			if s, m := call("POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+id+`","name":"Customer"}`); s != 200 {
				t.Fatalf("create %s: %d %v", id, s, m)
			}
			want["Linked Account Created|"+id] = true
		}
	}
	// Half the changes first, until the receiver has refused an attempt:
	// those deliveries are pending with attempts behind them.
	create(0, n/2)
	for deadline := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		refused := len(hits)
		mu.Unlock()
		if refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt reached the receiver:\n%s", p.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The rest, with the kill right after the last one commits.
	create(n/2, n)
	// The change that rolls back: cust-00 exists, so this create is
	// refused and its event must never be sent.
	if s, m := call("POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust-00","name":"Again"}`); s != 400 {
		t.Fatalf("create of an existing id: %d %v, want 400", s, m)
	}
	if s, m := call("DELETE", "/api/v2/public/linked-account/cust-01", ""); s != 200 {
		t.Fatalf("delete: %d %v", s, m)
	}
	want["Linked Account Deleted|cust-01"] = true
	// Killed right after the last commit answered: the deliveries are
	// pending in the database, some never tried.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	mu.Lock()
	before := len(hits)
	mu.Unlock()

	healthy.Store(true)
	p = startLinkd(t, bin, env, base)
	// A delivery in flight at the kill waits for its lease (30 s) to run out.
	delivered := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		got := map[string]bool{}
		for _, h := range hits {
			if h.answered == 200 {
				got[h.event+"|"+h.account] = true
			}
		}
		return got
	}
	for deadline := time.Now().Add(90 * time.Second); len(delivered()) < len(want); {
		if time.Now().After(deadline) {
			t.Fatalf("after restart %d of %d events delivered:\n%s", len(delivered()), len(want), p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every delivery row has succeeded, one per event: the log agrees.
	var docs []any
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, list := call("GET", "/api/v2/public/webhook/"+hook+"/deliveries?limit=100&state=succeeded", "")
		docs, _ = list["docs"].([]any)
		if len(docs) == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d succeeded deliveries, want %d: %v", len(docs), len(want), list)
		}
		time.Sleep(20 * time.Millisecond)
	}

	got := delivered()
	mu.Lock()
	defer mu.Unlock()
	for k := range got {
		if !want[k] {
			t.Errorf("an event nobody committed arrived: %s", k)
		}
	}
	// At least once, never as two events: each change has one webhook-id,
	// and every repeat of it carries the same body.
	idOf, bodyOf := map[string]string{}, map[string]string{}
	repeats := 0
	for _, h := range hits {
		k := h.event + "|" + h.account
		if prev, ok := idOf[k]; ok && prev != h.id {
			t.Errorf("%s arrived under two webhook-ids: %s and %s", k, prev, h.id)
		}
		if prev, ok := bodyOf[h.id]; ok {
			repeats++
			if prev != h.body {
				t.Errorf("webhook-id %s repeated with another body:\n%s\n%s", h.id, prev, h.body)
			}
		}
		idOf[k], bodyOf[h.id] = h.id, h.body
		if strings.Contains(h.body, "Again") {
			t.Errorf("the rolled-back create was sent: %s", h.body)
		}
	}
	t.Logf("%d events; %d requests before the kill, %d in all (%d repeats)", len(want), before, len(hits), repeats)
}
