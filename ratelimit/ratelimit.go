// Package ratelimit keeps a token bucket per key, in this process: the API
// limits requests per API key with it, the hosted page its form posts per
// account. With several instances each enforces the limit on its own share
// of traffic, which bounds abuse without a shared store on the hot path;
// nothing about correctness depends on it.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter holds a token bucket per key.
type Limiter struct {
	rps  float64
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]*bucket
	done chan struct{}
	once sync.Once
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleEvict is how long an unused bucket is kept; a full bucket carries no
// information, so forgetting it is exact once it has refilled.
const idleEvict = 10 * time.Minute

// New returns a limiter of rps requests a second per key, with bursts of
// twice that; rps 0 allows everything. now is the clock (time.Now when nil).
func New(rps float64, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{rps: rps, now: now, keys: map[string]*bucket{}, done: make(chan struct{})}
	if rps > 0 {
		go l.sweep()
	}
	return l
}

// Allow takes a token for key; when none is left it says how long to wait.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l.rps <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	b := l.keys[key]
	if b == nil {
		burst := int(math.Max(1, math.Ceil(2*l.rps)))
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.rps), burst)}
		l.keys[key] = b
	}
	b.seen = now
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *Limiter) sweep() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			cutoff := l.now().Add(-idleEvict)
			l.mu.Lock()
			for k, b := range l.keys {
				if b.seen.Before(cutoff) {
					delete(l.keys, k)
				}
			}
			l.mu.Unlock()
		}
	}
}

// Stop ends the limiter's sweeping of idle buckets.
func (l *Limiter) Stop() { l.once.Do(func() { close(l.done) }) }
