package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// TestSignInLimitsAcrossInstances runs three linkd binaries on one
// PostgreSQL database and spreads failed dashboard sign-ins over them: the
// limits hold in total, not once per instance, because every attempt is
// reserved in the database before its password is hashed (issue 16). A
// burst of parallel guesses at one account gets exactly the free attempts
// through, whichever instances they reach (per-instance counts would let
// 3 × 5 through), and the right password right after is refused on every
// instance; once the backoff has passed, the owner signs in. An address
// gets LoginIPLimit failed attempts over the three instances together,
// then every instance refuses it, while another address still gets in.
func TestSignInLimitsAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three binaries")
	}
	tenv, ok := engines(t)["postgres"]
	if !ok {
		t.Skip("needs LINKD_TEST_POSTGRES_URL")
	}
	bin := buildBinary(t)
	const n = 3
	base := make([]string, n)
	for i := range base {
		base[i] = "http://" + freeAddr(t)
		// Behind a proxy on loopback, so that the test can sign in from
		// several client addresses (X-Forwarded-For).
		settings := map[string]string{"LINKD_ADDR": strings.TrimPrefix(base[i], "http://"), "LINKD_TRUSTED_PROXIES": "127.0.0.0/8"}
		for k, v := range tenv {
			settings[k] = v
		}
		startLinkd(t, bin, binEnv(settings), base[i])
	}
	const email, password = "ada@example.com", "ada's long enough password"
	cmd := exec.Command(bin, "user", "create", "--email", email)
	cmd.Env, cmd.Stdin = binEnv(tenv), strings.NewReader(password+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}

	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// login signs in on instance i from address from; it is called from
	// several goroutines, so it reports rather than fails.
	login := func(i int, email, password, from string) (int, http.Header, error) {
		form := url.Values{"email": {email}, "password": {password}}
		req, _ := http.NewRequest("POST", base[i]+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base[i])
		req.Header.Set("X-Forwarded-For", from)
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		res.Body.Close()
		return res.StatusCode, res.Header, nil
	}
	mustLogin := func(i int, email, password, from string, want int) http.Header {
		t.Helper()
		st, h, err := login(i, email, password, from)
		if err != nil || st != want {
			t.Fatalf("sign-in as %s from %s on instance %d: %d %v, want %d", email, from, i, st, err, want)
		}
		return h
	}

	// 30 wrong guesses at once, 10 to each instance.
	const burst = 30
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for g := range burst {
		wg.Go(func() {
			st, _, err := login(g%n, email, fmt.Sprintf("wrong guess %d", g), "198.51.100.1")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			got[st]++
		})
	}
	wg.Wait()
	if got[http.StatusUnauthorized] != linkd.LoginFreeAttempts || got[http.StatusTooManyRequests] != burst-linkd.LoginFreeAttempts {
		t.Fatalf("a burst of %d guesses over %d instances: %v; want %d checked in all and the rest 429", burst, n, got, linkd.LoginFreeAttempts)
	}
	var retry int
	for i := range n {
		h := mustLogin(i, email, password, "198.51.100.1", http.StatusTooManyRequests)
		if _, err := fmt.Sscan(h.Get("Retry-After"), &retry); err != nil || retry < 1 || retry > int(linkd.LoginBackoffMax/time.Second) {
			t.Fatalf("instance %d: Retry-After %q", i, h.Get("Retry-After"))
		}
	}
	// The backoff is the account's, on every instance: the owner gets in
	// once it has passed, from any address and instance.
	time.Sleep(time.Duration(retry) * time.Second)
	mustLogin(2, email, password, "192.0.2.10", http.StatusSeeOther)

	// The address limit: LoginIPLimit failed attempts from one address,
	// each for another email so that no account limit is reached, spread
	// over the instances; then that address is refused everywhere.
	for g := range linkd.LoginIPLimit {
		mustLogin(g%n, fmt.Sprintf("nobody-%d@example.com", g), "some wrong password", "203.0.113.9", http.StatusUnauthorized)
	}
	for i := range n {
		mustLogin(i, "fresh@example.com", "some wrong password", "203.0.113.9", http.StatusTooManyRequests)
		mustLogin(i, email, password, "203.0.113.9", http.StatusTooManyRequests)
	}
	mustLogin(0, email, password, "192.0.2.11", http.StatusSeeOther)
	t.Logf("a burst of %d guesses over %d instances: %v; %d failed attempts from one address over %d instances, then 429 on each",
		burst, n, got, linkd.LoginIPLimit, n)
}
