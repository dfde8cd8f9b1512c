package dashboard_test

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestSignInFlood: 100 concurrent sign-ins, each from another address
// behind a trusted proxy and for another email (so that no sign-in limit
// steps in), keep the heap's growth bounded, and /healthz and an API read
// stay fast meanwhile. Every sign-in hashes a password with argon2id (19
// MiB); unbounded, 100 at once took the heap up by almost 2 GB.
func TestSignInFlood(t *testing.T) {
	const flood = 100
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		proxies, err := dashboard.ParseTrustedProxies("127.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, s, func(c *dashboard.Config) { c.TrustedProxies = proxies })
		e.user("owner@example.com", "the owner's long password")
		secret, hash := linkd.NewAPIKeySecret(linkd.EnvTest)
		k := &linkd.APIKey{ID: linkd.NewID(), OrgID: e.org.ID, Env: linkd.EnvTest, Prefix: linkd.APIKeyPrefix(secret), CreatedAt: time.Now().UTC()}
		if err := s.CreateAPIKey(t.Context(), k, hash, nil); err != nil {
			t.Fatal(err)
		}

		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})

		// Readers poll /healthz and the API while the flood runs.
		var slowest atomic.Int64
		var reads atomic.Int64
		done := make(chan struct{})
		var readers sync.WaitGroup
		read := func(path string, hdr http.Header) {
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest("GET", e.url+path, nil)
				req.Header = hdr
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body(t, resp)
				d := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s during the flood: %d", path, resp.StatusCode)
					return
				}
				reads.Add(1)
				for {
					old := slowest.Load()
					if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
			}
		}
		readers.Go(func() { read("/healthz", http.Header{}) })
		readers.Go(func() { read("/api/v2/public/linked-account", http.Header{"X-Api-Key": {secret}}) })

		statuses := make(map[int]int)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for i := range flood {
			wg.Go(func() {
				form := url.Values{"email": {fmt.Sprintf("guess-%d@example.com", i)}, "password": {"not the password at all"}}
				req, _ := http.NewRequest("POST", e.url+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", e.url)
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
				resp, err := e.client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body(t, resp)
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(done)
		readers.Wait()
		close(stop)
		sampler.Wait()

		growth := int64(peak.Load()) - int64(base)
		t.Logf("%d sign-ins in %v: statuses %v; heap in use grew by %d MiB at most; %d reads, slowest %v",
			flood, elapsed.Round(time.Millisecond), statuses, growth>>20, reads.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
		if growth > 300<<20 {
			t.Errorf("the heap grew by %d MiB during the flood; want at most 300", growth>>20)
		}
		// Before the hashing was bounded the slowest read took 4.4 s (and
		// far longer under the race detector).
		if d, bound := time.Duration(slowest.Load()), raceSlowdown*1500*time.Millisecond; d > bound {
			t.Errorf("the slowest read during the flood took %v; want under %v", d, bound)
		}
		// Every sign-in got an answer: refused, or asked to come back.
		for st := range statuses {
			if st != http.StatusUnauthorized && st != http.StatusServiceUnavailable && st != http.StatusTooManyRequests {
				t.Errorf("a sign-in answered %d", st)
			}
		}
	})
}
