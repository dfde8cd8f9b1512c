package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/dbtest"
)

// clock is a settable time for the sign-in throttles.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestSignInThrottle: a burst of parallel guesses gets exactly the free
// attempts (the rest are refused before hashing), and the right password
// right after is refused too; then the account backs off, doubling
// up to a short cap so that the owner gets in soon after a stranger's
// guesses; the address limit counts the right-most untrusted
// X-Forwarded-For address, which a client cannot spoof.
func TestSignInThrottle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		clk := &clock{now: time.Now().UTC()}
		proxies, err := dashboard.ParseTrustedProxies("127.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, s, func(c *dashboard.Config) {
			c.Now = clk.Now
			c.TrustedProxies = proxies
			users := linkd.NewUserService(s)
			users.Now, users.HashSlots, users.HashWait = clk.Now, 2, time.Minute
			svcs := *c.Services
			svcs.Users = users
			c.Services = &svcs
		})
		e.user("ada@example.com", "ada's long password")
		login := func(email, password, xff string) int {
			form := url.Values{"email": {email}, "password": {password}}
			req, _ := http.NewRequest("POST", e.url+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", e.url)
			req.Header.Set("X-Forwarded-For", xff)
			resp, err := e.client().Do(req)
			if err != nil {
				t.Error(err)
				return 0
			}
			body(t, resp)
			return resp.StatusCode
		}

		// 30 wrong guesses at once: only the free attempts are checked
		// (before, all 30 passed the check made before any was recorded,
		// and a right password among them signed in).
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				st := login("ada@example.com", "wrong guess number "+string(rune('a'+i)), "198.51.100.1")
				mu.Lock()
				got[st]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got[http.StatusUnauthorized] != linkd.LoginFreeAttempts || got[http.StatusTooManyRequests] != 30-linkd.LoginFreeAttempts {
			t.Fatalf("a burst of 30: %v; want %d checked and the rest 429", got, linkd.LoginFreeAttempts)
		}
		if st := login("ada@example.com", "ada's long password", "198.51.100.1"); st != http.StatusTooManyRequests {
			t.Fatalf("the right password right after the burst: %d, want 429", st)
		}
		// The backoff doubles: 1 s, 2 s, 4 s …
		for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			clk.add(wait - time.Millisecond)
			if st := login("ada@example.com", "another wrong guess", "198.51.100.2"); st != http.StatusTooManyRequests {
				t.Fatalf("%v after the last guess minus 1ms: %d, want 429", wait, st)
			}
			clk.add(time.Millisecond)
			if st := login("ada@example.com", "another wrong guess", "198.51.100.2"); st != http.StatusUnauthorized {
				t.Fatalf("%v after the last guess: %d, want 401", wait, st)
			}
		}
		// … up to LoginBackoffMax: however many guesses a stranger made, the
		// owner is in that long after the last one.
		for range 10 {
			clk.add(linkd.LoginBackoffMax)
			if st := login("ada@example.com", "a stranger's guess", "203.0.113.50"); st != http.StatusUnauthorized {
				t.Fatalf("a guess a backoff cap later: %d, want 401", st)
			}
		}
		clk.add(linkd.LoginBackoffMax)
		if st := login("ada@example.com", "ada's long password", "192.0.2.77"); st != http.StatusSeeOther {
			t.Fatalf("the owner, a backoff cap after the stranger's last guess: %d, want 303", st)
		}
		// A success cleared the account's count.
		if st := login("ada@example.com", "one typo", "192.0.2.77"); st != http.StatusUnauthorized {
			t.Fatalf("after a success: %d, want 401", st)
		}

		// The address limit: a client that writes its own X-Forwarded-For
		// entries is still counted by the address the proxy appended.
		clk.add(linkd.LoginWindow)
		for i := range linkd.LoginIPLimit {
			spoof := "10.0.0." + string(rune('0'+i%10)) + ", 203.0.113.9"
			if st := login("nobody"+string(rune('a'+i%26))+"@example.com", "some wrong password", spoof); st != http.StatusUnauthorized {
				t.Fatalf("guess %d from one address: %d, want 401", i, st)
			}
		}
		if st := login("fresh@example.com", "some wrong password", "6.6.6.6, 203.0.113.9"); st != http.StatusTooManyRequests {
			t.Fatalf("over the address limit with a spoofed left-most entry: %d, want 429", st)
		}
		if st := login("ada@example.com", "ada's long password", "192.0.2.78"); st != http.StatusSeeOther {
			t.Fatalf("another address: %d, want 303", st)
		}
		clk.add(linkd.LoginWindow)
		if st := login("fresh@example.com", "some wrong password", "203.0.113.9"); st != http.StatusUnauthorized {
			t.Fatalf("the address a window later: %d, want 401", st)
		}
	})
}
