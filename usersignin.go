package linkd

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"time"
)

// Sign-in limits. Every attempt is reserved in the database before its
// password is hashed, under two keys:
//
//   - the account (the email, known or not): LoginFreeAttempts attempts go
//     through at once; after that each attempt must wait a backoff that
//     doubles from one second up to LoginBackoffMax after the one before.
//     The cap is short on purpose: anyone can type the owner's email, so
//     a stranger must not be able to lock the owner out for long, while
//     guessing is slowed to one try a minute.
//   - the client address (an IPv6 address by its /64): LoginIPLimit
//     failed attempts per LoginWindow, whichever emails they were for.
//
// A success clears the account's count and gives back its own reservation
// of the address's; quiet for LoginWindow, an account starts afresh.
const (
	LoginWindow       = 15 * time.Minute
	LoginFreeAttempts = 5
	LoginBackoffMax   = time.Minute
	LoginIPLimit      = 50
)

// LoginThrottle is what the sign-in limits keep under one key.
type LoginThrottle struct {
	Attempts int       // attempts reserved and not given back
	First    time.Time // the first attempt counted
	Last     time.Time // the latest attempt counted
}

// accountWait is how long after now an account with this throttle must
// wait before its next attempt.
func (t LoginThrottle) accountWait(now time.Time) time.Duration {
	if t.Attempts < LoginFreeAttempts {
		return 0
	}
	shift := min(t.Attempts-LoginFreeAttempts, 16)
	backoff := min(time.Second<<shift, LoginBackoffMax)
	return t.Last.Add(backoff).Sub(now)
}

// count adds one attempt at now.
func (t LoginThrottle) count(now time.Time) LoginThrottle {
	if t.Attempts == 0 {
		t.First = now
	}
	t.Attempts++
	t.Last = now
	return t
}

// giveBack removes one attempt.
func (t LoginThrottle) giveBack() LoginThrottle {
	t.Attempts = max(t.Attempts-1, 0)
	return t
}

// loginKeys are the throttle keys of an attempt: the account's first.
func loginKeys(email, clientIP string) []string {
	ip := clientIP
	if a, err := netip.ParseAddr(clientIP); err == nil {
		a = a.Unmap()
		if a.Is6() {
			// One host usually holds a whole /64.
			p, _ := a.Prefix(64)
			ip = p.String()
		} else {
			ip = a.String()
		}
	}
	if ip == "" {
		ip = "unknown"
	}
	return []string{"email:" + email, "ip:" + ip}
}

func tooMany(what string, wait time.Duration) error {
	wait = max(wait, time.Second)
	n, unit := int(math.Ceil(wait.Seconds())), "seconds"
	if wait > 90*time.Second {
		n, unit = int(math.Ceil(wait.Minutes())), "minutes"
	}
	return &Error{Code: ERATELIMITED, RetryAfter: wait,
		Message: fmt.Sprintf("Too many failed sign-ins %s. Wait %d %s and try again.", what, n, unit)}
}

// reserveAttempt counts an attempt under keys before any password is
// checked, or refuses it (ERATELIMITED) without counting it. Reserving in
// one transaction is what keeps a burst of parallel guesses from all
// passing a check made before any of them was recorded.
func (s *UserService) reserveAttempt(ctx context.Context, email string, keys []string, now time.Time) error {
	return s.store.UpdateLoginThrottles(ctx, keys, now.Add(-LoginWindow), func(cur []LoginThrottle) ([]LoginThrottle, error) {
		acct, ip := cur[0], cur[1]
		if now.Sub(acct.Last) >= LoginWindow {
			acct = LoginThrottle{}
		}
		if !now.Before(ip.First.Add(LoginWindow)) {
			ip = LoginThrottle{}
		}
		if wait := acct.accountWait(now); wait > 0 {
			return nil, tooMany("for "+email, wait)
		}
		if ip.Attempts >= LoginIPLimit {
			return nil, tooMany("from your network", ip.First.Add(LoginWindow).Sub(now))
		}
		return []LoginThrottle{acct.count(now), ip.count(now)}, nil
	})
}

// settleAttempt gives back a reserved attempt: after a success (which
// also clears the account's count), or when the attempt could not be
// checked at all.
func (s *UserService) settleAttempt(ctx context.Context, keys []string, now time.Time, success bool) error {
	return s.store.UpdateLoginThrottles(ctx, keys, now.Add(-LoginWindow), func(cur []LoginThrottle) ([]LoginThrottle, error) {
		acct, ip := cur[0].giveBack(), cur[1].giveBack()
		if success {
			acct = LoginThrottle{}
		}
		return []LoginThrottle{acct, ip}, nil
	})
}

// defaultHashSlots is how many argon2id hashes run at once by default:
// half the CPUs, between 1 and 4. Each takes 19 MiB and a CPU for tens of
// milliseconds, so this bounds sign-in's memory at under 80 MiB and leaves
// CPUs to the API whatever the number of sign-ins.
func defaultHashSlots() int { return max(1, min(4, runtime.GOMAXPROCS(0)/2)) }

// DefaultHashWait is how long a sign-in waits for a hashing slot before
// it is answered EUNAVAILABLE (503, Retry-After) instead.
const DefaultHashWait = 2 * time.Second

// hashSlot waits for one of the bounded argon2id slots; release gives it
// back.
func (s *UserService) hashSlot(ctx context.Context) (release func(), err error) {
	s.slotsOnce.Do(func() {
		n := s.HashSlots
		if n <= 0 {
			n = defaultHashSlots()
		}
		s.slots = make(chan struct{}, n)
	})
	wait := s.HashWait
	if wait <= 0 {
		wait = DefaultHashWait
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-t.C:
		return nil, &Error{Code: EUNAVAILABLE, RetryAfter: time.Second, Message: "Signing in is busy right now. Try again in a moment."}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashPassword is HashPassword in a hashing slot.
func (s *UserService) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password), nil
}

// SignIn checks an email and password from clientIP and starts a session
// (returned with its cookie secret). In order: the attempt is reserved
// under the account and the address (ERATELIMITED when over a limit, and
// nothing is hashed), then the password is hashed in a bounded slot
// (EUNAVAILABLE when none frees up soon; the attempt is given back), an
// unknown email against a dummy hash so that it takes as long. A wrong
// password is EUNAUTHORIZED, a disabled user's right one EFORBIDDEN.
func (s *UserService) SignIn(ctx context.Context, email, password, clientIP string) (*DashboardSession, string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, "", err
	}
	if len(password) > MaxPasswordLen {
		// Not hashed at all: a long password only costs more to hash.
		return nil, "", Errorf(EUNAUTHORIZED, "That email and password do not match an account.")
	}
	keys := loginKeys(email, clientIP)
	now := s.now()
	if err := s.reserveAttempt(ctx, email, keys, now); err != nil {
		return nil, "", err
	}
	u, hash, err := s.store.UserByEmail(ctx, email)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return nil, "", err
	}
	if u == nil {
		hash = DummyPasswordHash // take as long as for a real user
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		if serr := s.settleAttempt(context.WithoutCancel(ctx), keys, now, false); serr != nil {
			return nil, "", serr
		}
		return nil, "", err
	}
	ok := CheckPassword(hash, password)
	release()
	if !ok || u == nil {
		return nil, "", Errorf(EUNAUTHORIZED, "That email and password do not match an account.")
	}
	if err := s.settleAttempt(ctx, keys, now, true); err != nil {
		return nil, "", err
	}
	if u.DisabledAt != nil {
		return nil, "", Errorf(EFORBIDDEN, "The user %s is disabled. Ask an administrator of your organization.", email)
	}
	return s.StartSession(ctx, u)
}
