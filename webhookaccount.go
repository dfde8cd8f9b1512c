package linkd

import (
	"context"
	"fmt"
	"time"
)

// AccountEventScan bounds how many of a tenant's newest events
// AccountDeliveries looks through: webhook_events has no index by account
// (the outbox writes it on every change, so one more index would slow
// every write), and an account page must stay one cheap read however busy
// the tenant is. An account whose events are older than that many of the
// tenant's shows none.
const AccountEventScan = 10000

// AccountDeliveryReader reads the deliveries of an account's events, for
// the dashboard's account page.
type AccountDeliveryReader interface {
	// AccountDeliveries lists the deliveries of the newest events (at
	// most limit events) about accountID made at or after since, among
	// the tenant's AccountEventScan newest events; newest event first,
	// each delivery with its EventType.
	AccountDeliveries(ctx context.Context, t Tenant, accountID string, since time.Time, limit int) ([]*Delivery, error)
}

// EventIDSince is the smallest event id NewEventID can make at t or
// later: event ids are UUIDv7s, which begin with their millisecond, so
// "id >= EventIDSince(t)" selects by time on the primary key.
func EventIDSince(t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return fmt.Sprintf("msg_%012x", ms&(1<<48-1))
}
