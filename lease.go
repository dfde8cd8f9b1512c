package linkd

import (
	"context"
	"time"
)

// Claim asks a store for due work under a lease: up to Limit items whose
// time has come at Now, taken for Owner until Now+Lease, none of a tenant in
// Skip (tenants already running as much as their cap allows) nor of a group
// in SkipGroups. Every kind of background work (imports, bulk jobs, token
// refreshes and revocations, and what comes later) is claimed this way, so
// one loop (package worker) runs them all.
type Claim struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	Limit int
	Skip  []Tenant
	// SkipGroups names groups of items running as much as their cap
	// allows. What a group is belongs to the kind of work: for token
	// refreshes, the apps (by slug) whose token endpoint's host is
	// busy; other kinds have none and ignore it.
	SkipGroups []string
	// OnlyGroups, when not empty, limits the claim to the items of these
	// groups (named as in SkipGroups): a loop's lane for the groups that
	// recently stalled claims them apart from the others.
	OnlyGroups []string
	// GroupCap, when positive, is how many items of one group may be
	// leased at once across every instance, counting the live leases
	// of earlier claims by any owner (not leases taken for work on
	// demand, which is not capped): what one instance runs is not all
	// the load a shared group (a provider's host) sees.
	// GroupOf maps an item's key (for refreshes, the app's slug) to its
	// group; keys it does not name are not capped.
	GroupCap int
	GroupOf  map[string]string
}

// Until is when the lease runs out.
func (c Claim) Until() time.Time { return c.Now.Add(c.Lease) }

// Skips reports whether c excludes tenant t.
func (c Claim) Skips(t Tenant) bool {
	for _, s := range c.Skip {
		if s == t {
			return true
		}
	}
	return false
}

// SkipGroupList returns SkipGroups, never nil, so that it binds as an
// empty array.
func (c Claim) SkipGroupList() []string {
	if c.SkipGroups == nil {
		return []string{}
	}
	return c.SkipGroups
}

// OnlyGroupList returns OnlyGroups, never nil, so that it binds as an
// empty array (which claims every group).
func (c Claim) OnlyGroupList() []string {
	if c.OnlyGroups == nil {
		return []string{}
	}
	return c.OnlyGroups
}

// GroupLookahead is how many due items past its limit a claim with a
// GroupCap considers: it takes of each group only the room the group's
// live leases leave, so its first Limit candidates may be mostly of one
// group; with some more of them, the items of other groups due next are
// claimed in the same round. A claim that still finds too few is repeated
// by the loop.
const GroupLookahead = 64

// Candidates is how many due items a store considers for c: its limit,
// and GroupLookahead more when groups are capped.
func (c Claim) Candidates() int {
	if c.GroupCap > 0 && len(c.GroupOf) > 0 {
		return c.Limit + GroupLookahead
	}
	return c.Limit
}

// GroupMap returns GroupOf when GroupCap is positive, and an empty map
// otherwise (no group is capped), never nil, so that it binds as a JSON
// object.
func (c Claim) GroupMap() map[string]string {
	if c.GroupCap <= 0 || c.GroupOf == nil {
		return map[string]string{}
	}
	return c.GroupOf
}

// TickStore records which instance fired a schedule's tick, so that a
// schedule fires once per period however many instances run it.
type TickStore interface {
	// ClaimTick records that owner fires schedule name's tick for the period
	// starting at slot. It reports false, changing nothing, when the tick
	// was claimed already (by any instance). Ticks older than a week are
	// forgotten.
	ClaimTick(ctx context.Context, name string, slot time.Time, owner string) (bool, error)
}

// SkipKeys returns the skipped tenants as "org|env" strings, the form the
// stores compare org_id || '|' || env against (never nil, so that it binds
// as an empty array).
func (c Claim) SkipKeys() []string {
	out := make([]string, 0, len(c.Skip))
	for _, t := range c.Skip {
		out = append(out, t.OrgID+"|"+string(t.Env))
	}
	return out
}
