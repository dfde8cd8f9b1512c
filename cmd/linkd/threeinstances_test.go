package main

import (
	"bytes"
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

// TestReliabilityThreeInstances runs three linkd binaries on one PostgreSQL
// database with the load spread over them while imports run, and kills one
// instance with SIGKILL (at random, twice; six times with LINKD_TEST_LONG)
// and starts it again each time. Afterwards: every import row made exactly
// one account, whichever instances ran the job's batches; every create
// acknowledged exists once; the same Idempotency-Key sent to two instances
// at once made one account and one answer; a session token issued by one
// instance works on the others; every committed event reached the webhook
// receiver, more than once only when a kill cut an attempt off.
func TestReliabilityThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three binaries")
	}
	tenv, ok := engines(t)["postgres"]
	if !ok {
		t.Skip("needs LINKD_TEST_POSTGRES_URL")
	}
	kills, rows := 2, 10_000
	if testLong() {
		kills, rows = 6, 100_000
	}
	bin := buildBinary(t)

	var hookMu sync.Mutex
	hooks := map[string]int{} // webhook-id → deliveries
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hookMu.Lock()
		hooks[r.Header.Get("webhook-id")]++
		hookMu.Unlock()
	}))
	defer recv.Close()

	const n = 3
	base := make([]string, n)
	for i := range base {
		base[i] = "http://" + freeAddr(t)
	}
	envOf := func(i int) []string {
		env := append(os.Environ(), "LINKD_ADDR="+strings.TrimPrefix(base[i], "http://"), "LINKD_RATE_LIMIT=0",
			"LINKD_LOG_LEVEL=warn", "LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8", "LINKD_IMPORT_LEASE=2s")
		for k, v := range tenv {
			env = append(env, k+"="+v)
		}
		return env
	}
	key := newKey(t, tenv, "test")
	var procMu sync.Mutex
	procs := make([]*proc, n)
	for i := range procs {
		procs[i] = startLinkd(t, bin, envOf(i), base[i])
	}
	client := &http.Client{Timeout: 20 * time.Second}
	call := func(i int, method, path string, body []byte, header ...string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base[i]+path, bytes.NewReader(body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		for h := 0; h+1 < len(header); h += 2 {
			req.Header.Set(header[h], header[h+1])
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil // the instance was killed under the request
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	if s, m := call(0, "POST", "/api/v2/public/webhook", []byte(`{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Linked Account Created"]}`)); s != 200 {
		t.Fatalf("create webhook: %d %v", s, m)
	}

	// Three imports, each uploaded to another instance.
	var jobs []string
	for j := range n {
		var file bytes.Buffer
		file.WriteString("linked_account_id,name\n")
		for r := range rows {
			fmt.Fprintf(&file, "imp-%d-%06d,Imported\n", j, r)
		}
		req, _ := http.NewRequest("POST", base[j]+"/api/v2/public/linked-account/import?filename=i.csv", &file)
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "text/csv")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var job map[string]any
		json.NewDecoder(res.Body).Decode(&job)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("upload to instance %d: %d %v", j, res.StatusCode, job)
		}
		jobs = append(jobs, job["_id"].(string))
	}

	// Creates from 6 clients, spread over the live instances.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		ackMu   sync.Mutex
		acked   []string
		seq     atomic.Int64
		refused atomic.Int64
	)
	for c := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 3))
			for !stop.Load() {
				id := fmt.Sprintf("api-%06d", seq.Add(1))
				s, _ := call(rng.IntN(n), "POST", "/api/v2/public/linked-account", []byte(`{"linked_account_id":"`+id+`","name":"API"}`))
				switch s {
				case 200:
					ackMu.Lock()
					acked = append(acked, id)
					ackMu.Unlock()
				case 0:
					refused.Add(1) // its instance died under it: it may or may not exist
				default:
					t.Errorf("create %s: %d", id, s)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	// Kill one instance at a random moment, start it again, repeat.
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for k := range kills {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		i := (k + rng.IntN(2)) % n // each instance in turn, or the next
		procMu.Lock()
		sigkill(t, procs[i])
		procMu.Unlock()
		t.Logf("kill %d: instance %d", k+1, i)
		time.Sleep(300 * time.Millisecond)
		procMu.Lock()
		procs[i] = startLinkd(t, bin, envOf(i), base[i])
		procMu.Unlock()
	}
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()

	// Idempotency across instances: one key, three instances at once.
	var idem sync.WaitGroup
	answers := make([]map[string]any, n)
	statuses := make([]int, n)
	conflicts := atomic.Int64{}
	for i := range n {
		idem.Go(func() {
			// While another instance runs the key's request, an instance
			// answers 409 (in progress): the client retries.
			for range 50 {
				statuses[i], answers[i] = call(i, "POST", "/api/v2/public/linked-account", []byte(`{"linked_account_id":"idem-1","name":"Once"}`),
					"Idempotency-Key", "three-instances-1")
				if statuses[i] != http.StatusConflict {
					return
				}
				conflicts.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	idem.Wait()
	t.Logf("one Idempotency-Key on %d instances at once: %d answers 409 (in progress) before the replay", n, conflicts.Load())
	for i := range n {
		if statuses[i] != 200 || answers[i]["_id"] != answers[0]["_id"] {
			t.Errorf("Idempotency-Key on instance %d: %d %v; instance 0 answered %v", i, statuses[i], answers[i], answers[0])
		}
	}
	// A session token made on one instance acts on the others.
	s, tok := call(0, "POST", "/api/v2/public/session-token", []byte(`{"linked_account_id":"idem-1"}`))
	if s != 200 {
		t.Fatalf("session token: %d %v", s, tok)
	}
	for i := 1; i < n; i++ {
		req, _ := http.NewRequest("GET", base[i]+"/api/v2/public/session/active-linked-account", nil)
		req.Header.Set("Authorization", "Bearer "+tok["token"].(string))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var a map[string]any
		json.NewDecoder(res.Body).Decode(&a)
		res.Body.Close()
		if res.StatusCode != 200 || a["account_id"] != "idem-1" {
			t.Errorf("the session token on instance %d: %d %v", i, res.StatusCode, a)
		}
	}

	// Every import ends with each row once.
	for j, id := range jobs {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			job := getJSON(t, base[j]+"/api/v2/public/linked-account/import/"+id, key)
			if job["state"] == "succeeded" {
				if job["created"] != float64(rows) || job["rows_processed"] != float64(rows) || job["failed"] != float64(0) {
					t.Errorf("import %d: %v", j, job)
				}
				break
			}
			if job["state"] != "queued" && job["state"] != "running" || time.Now().After(deadline) {
				t.Fatalf("import %d: %v", j, job)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Every acknowledged create exists; the count is imports + creates
	// that landed (acknowledged, and perhaps some cut off) + idem-1.
	for _, id := range acked {
		if s, a := call(rng.IntN(n), "GET", "/api/v2/public/linked-account/"+id, nil); s != 200 || a["account_id"] != id {
			t.Errorf("acknowledged %s: %d %v", id, s, a)
		}
	}
	total, _ := getJSON(t, base[0]+"/api/v2/public/linked-account?limit=1", key)["totalDocs"].(float64)
	want := n*rows + len(acked) + 1
	if int(total) < want || int(total) > want+int(refused.Load()) {
		t.Errorf("totalDocs %v: want %d acknowledged, at most %d cut off", total, want, refused.Load())
	}
	// Every create's event arrives: one per account made through the API.
	apiMade := int(total) - n*rows
	deadline := time.Now().Add(time.Minute)
	for {
		hookMu.Lock()
		distinct, deliveries := len(hooks), 0
		for _, c := range hooks {
			deliveries += c
		}
		hookMu.Unlock()
		if distinct >= apiMade || time.Now().After(deadline) {
			t.Logf("%d kills; %d creates acknowledged, %d cut off; %d imported; %d events, %d deliveries",
				kills, len(acked), refused.Load(), n*rows, distinct, deliveries)
			if distinct != apiMade {
				t.Errorf("%d events delivered, want %d (one per account created through the API; imported rows announce nothing)", distinct, apiMade)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
