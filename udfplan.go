package linkd

import (
	"context"
	"sync"
	"time"
)

// A list with several UDF filters is driven by the rarest one's index rows
// and tests the others per row, so it must know which is rarest. Counting
// each filter's rows (up to UDFProbe) on every request cost as much as the
// page itself at a million accounts (a third of a filtered list's CPU time,
// measured), while the counts move slowly: UDFPlanner remembers them for
// half a minute. That also lets it count further: up to 10,000 rows, both
// filters of "plan=pro&region=eu" looked equally common at a million
// accounts, and the list was driven by the 300,000 rows of plan=pro instead
// of the 50,000 of the region. They only choose a plan — every filter is still tested on
// every row — so a stale count can make a page slower, never wrong, and the
// figures may live in one process's memory.

// UDFProbe bounds how many index rows a count reads per filter.
const UDFProbe = 100000

// UDFPlanner picks the rarest UDF filter of a list.
type UDFPlanner struct {
	// Count returns how many of the tenant's index rows match m, counting
	// no further than limit.
	Count func(ctx context.Context, t Tenant, m UDFMatch, limit int) (int, error)
	// TTL is how long a count is reused (30 s when 0); Max bounds how many
	// are kept (10,000 when 0; past it, expired counts and then any others
	// are dropped down to half).
	TTL time.Duration
	Max int
	Now func() time.Time

	mu     sync.Mutex
	counts map[udfCountKey]udfCount
}

type udfCountKey struct {
	t Tenant
	m UDFMatch
}

type udfCount struct {
	n  int
	at time.Time
}

// Rarest returns the index in ms of the filter with the fewest index rows.
func (p *UDFPlanner) Rarest(ctx context.Context, t Tenant, ms []UDFMatch) (int, error) {
	if len(ms) < 2 {
		return 0, nil
	}
	best, bestN := 0, UDFProbe+1
	for i, m := range ms {
		n, err := p.count(ctx, t, m)
		if err != nil {
			return 0, err
		}
		if n < bestN {
			best, bestN = i, n
		}
	}
	return best, nil
}

func (p *UDFPlanner) count(ctx context.Context, t Tenant, m UDFMatch) (int, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	k := udfCountKey{t, m}
	p.mu.Lock()
	c, ok := p.counts[k]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < ttl && !now.Before(c.at) {
		return c.n, nil
	}
	n, err := p.Count(ctx, t, m, UDFProbe)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := p.Max
	if limit <= 0 {
		limit = 10000
	}
	if p.counts == nil {
		p.counts = map[udfCountKey]udfCount{}
	} else if len(p.counts) >= limit {
		p.evict(now, ttl, limit/2)
	}
	p.counts[k] = udfCount{n: n, at: now}
	return n, nil
}

// evict drops expired counts, then any until at most keep remain.
func (p *UDFPlanner) evict(now time.Time, ttl time.Duration, keep int) {
	for k, c := range p.counts {
		if now.Sub(c.at) >= ttl {
			delete(p.counts, k)
		}
	}
	for k := range p.counts {
		if len(p.counts) <= keep {
			break
		}
		delete(p.counts, k)
	}
}
