package linkd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EventTest is the type of the event POST /webhook/{id}/test sends. It is
// not one of WebhookEvents: no endpoint subscribes to it, it is made for
// one endpoint at a time.
const EventTest = "Test"

// Audit actions of the delivery log: each makes deliveries due again (or a
// new one), so each is on the record with who asked.
const (
	AuditWebhookRedeliver = "webhook.redeliver"
	AuditWebhookTest      = "webhook.test"
	AuditWebhookReplay    = "webhook.replay"
)

// DeliveryFilter selects deliveries of one endpoint, newest event first.
type DeliveryFilter struct {
	// State is a delivery state ("" for all).
	State string
	// Event is an event type (linkd.EventAccountCreated, EventTest; "" for
	// all).
	Event  string
	Limit  int
	Offset int
}

// DeliveryPage is one page of an endpoint's delivery log.
type DeliveryPage struct {
	Deliveries []*Delivery
	// Total counts the deliveries the filter selects, on every page.
	Total int64
}

// DeliveryDetail is one delivery with its event and every attempt made.
type DeliveryDetail struct {
	Delivery *Delivery
	Event    *Event
	Attempts []*DeliveryAttempt
}

// DeliveryReplay selects the deliveries a replay makes due again: those of
// one endpoint in State whose events were made in [Since, Until).
type DeliveryReplay struct {
	Since time.Time
	Until time.Time
	State string
}

// DeliveryLogStore is what the delivery log API asks of the stores.
type DeliveryLogStore interface {
	// DeliveryLog lists an endpoint's deliveries that f selects, newest
	// event first, each with its EventType, and how many f selects.
	DeliveryLog(ctx context.Context, t Tenant, webhookID string, f DeliveryFilter) (*DeliveryPage, error)
	// Delivery returns one delivery with its EventType; ENOTFOUND when the
	// endpoint has none of that event.
	Delivery(ctx context.Context, t Tenant, webhookID, eventID string) (*Delivery, error)
	// Redeliver makes a delivery pending and due at now (its attempts go
	// on counting, its event and so its webhook-id stay), with ev, in one
	// transaction; a lease held by an attempt in flight is left alone.
	// ENOTFOUND when there is no such delivery.
	Redeliver(ctx context.Context, t Tenant, webhookID, eventID string, now time.Time, ev *AuditEntry) (*Delivery, error)
	// CreateTestDelivery writes e and one pending delivery of it, due at
	// e.CreatedAt, to the endpoint webhookID only (whatever it subscribes
	// to), with ev, in one transaction. ENOTFOUND when there is no such
	// endpoint.
	CreateTestDelivery(ctx context.Context, t Tenant, webhookID string, e *Event, ev *AuditEntry) error
	// ReplayDeliveries makes the deliveries r selects pending and due at
	// now, and writes audit(n) for the n it changed, in one transaction.
	ReplayDeliveries(ctx context.Context, t Tenant, webhookID string, r DeliveryReplay, now time.Time, audit func(n int) *AuditEntry) (int, error)
	AccountDeliveryReader
}

// webhookLogStore is what WebhookService needs: the endpoints, their log
// and the attempts recorded by the sender.
type webhookLogStore interface {
	WebhookStore
	DeliveryLogStore
	DeliveryRetentionStore
	DeliveryAttempts(ctx context.Context, t Tenant, webhookID, eventID string) ([]*DeliveryAttempt, error)
}

// DeliveryLog returns a page of the endpoint id's delivery log. f.Event
// may be an event's name or its kebab-case form ("connection-created").
func (s *WebhookService) DeliveryLog(ctx context.Context, t Tenant, id string, f DeliveryFilter) (*DeliveryPage, error) {
	if err := checkDeliveryState("state", f.State, true); err != nil {
		return nil, err
	}
	if f.Event != "" {
		ev, err := deliveryEventType(f.Event)
		if err != nil {
			return nil, err
		}
		f.Event = ev
	}
	if f.Limit < 1 || f.Limit > MaxPageLimit {
		return nil, FieldError("limit", "limit must be a whole number from 1 to %d", MaxPageLimit)
	}
	if f.Offset < 0 {
		return nil, FieldError("page", "page must be 1 or more")
	}
	if _, err := s.Get(ctx, t, id); err != nil {
		return nil, err
	}
	return s.store.DeliveryLog(ctx, t, id, f)
}

// Delivery returns the delivery of event eventID to endpoint id, with the
// event and every attempt made.
func (s *WebhookService) Delivery(ctx context.Context, t Tenant, id, eventID string) (*DeliveryDetail, error) {
	if err := checkWebhookID(id); err != nil {
		return nil, err
	}
	if err := checkEventID(eventID); err != nil {
		return nil, err
	}
	d, err := s.store.Delivery(ctx, t, id, eventID)
	if err != nil {
		return nil, err
	}
	ev, err := s.store.WebhookEvent(ctx, t, eventID)
	if err != nil {
		return nil, err
	}
	as, err := s.store.DeliveryAttempts(ctx, t, id, eventID)
	if err != nil {
		return nil, err
	}
	return &DeliveryDetail{Delivery: d, Event: ev, Attempts: as}, nil
}

// Redeliver makes one more attempt of a delivery, due now, with the same
// webhook-id. A failed or succeeded delivery gets one attempt (the retry
// schedule is spent); a pending one is simply brought forward.
func (s *WebhookService) Redeliver(ctx context.Context, t Tenant, actor, id, eventID string) (*Delivery, error) {
	w, err := s.enabledWebhook(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if err := checkEventID(eventID); err != nil {
		return nil, err
	}
	now := s.now()
	ev := webhookAudit(w, AuditWebhookRedeliver, actor, now, nil)
	ev.Details["event_id"] = eventID
	return s.store.Redeliver(ctx, t, id, eventID, now, ev)
}

// SendTest makes a Test event for endpoint id alone, delivered through the
// outbox like any other (signed, retried, logged), and returns it.
func (s *WebhookService) SendTest(ctx context.Context, t Tenant, actor, id string) (*Event, error) {
	w, err := s.enabledWebhook(ctx, t, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	payload, err := json.Marshal(map[string]string{"event": EventTest, "webhook_id": w.ID, "createdAt": eventTime(now)})
	if err != nil {
		return nil, err
	}
	e := &Event{ID: NewEventID(), Type: EventTest, Payload: payload, CreatedAt: now}
	ev := webhookAudit(w, AuditWebhookTest, actor, now, nil)
	ev.Details["event_id"] = e.ID
	if err := s.store.CreateTestDelivery(ctx, t, id, e, ev); err != nil {
		return nil, err
	}
	return e, nil
}

// MaxReplayWindow bounds a replay's window: a replay is one transaction,
// and the log keeps attempts for a limited time anyway.
const MaxReplayWindow = 90 * 24 * time.Hour

// Replay makes the endpoint's deliveries in r.State (default failed) of
// events made in [r.Since, r.Until) due now, in one transaction, and
// returns how many. A zero Until is now.
func (s *WebhookService) Replay(ctx context.Context, t Tenant, actor, id string, r DeliveryReplay) (int, error) {
	if r.Since.IsZero() {
		return 0, FieldError("since", "since is required: the time (RFC 3339) from which to replay")
	}
	now := s.now()
	if r.Until.IsZero() {
		r.Until = now
	}
	if !r.Until.After(r.Since) {
		return 0, FieldError("until", "until must be after since")
	}
	if r.Until.Sub(r.Since) > MaxReplayWindow {
		return 0, FieldError("since", "the window from since to until is longer than %d days", int(MaxReplayWindow/(24*time.Hour)))
	}
	if r.State == "" {
		r.State = DeliveryFailed
	}
	if err := checkDeliveryState("state", r.State, false); err != nil {
		return 0, err
	}
	w, err := s.enabledWebhook(ctx, t, id)
	if err != nil {
		return 0, err
	}
	r.Since, r.Until = StoreTime(r.Since), StoreTime(r.Until)
	return s.store.ReplayDeliveries(ctx, t, id, r, now, func(n int) *AuditEntry {
		ev := webhookAudit(w, AuditWebhookReplay, actor, now, nil)
		ev.Details["since"], ev.Details["until"], ev.Details["state"], ev.Details["deliveries"] =
			r.Since.Format(time.RFC3339Nano), r.Until.Format(time.RFC3339Nano), r.State, n
		return ev
	})
}

// enabledWebhook returns endpoint id, refusing one that is disabled: the
// sender skips disabled endpoints, so what is made due would wait unseen.
func (s *WebhookService) enabledWebhook(ctx context.Context, t Tenant, id string) (*Webhook, error) {
	w, err := s.Get(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		why := ""
		if w.DisabledReason != "" {
			why = " (" + w.DisabledReason + ")"
		}
		return nil, &Error{Code: ECONFLICT, Field: "is_enabled", Message: fmt.Sprintf(
			"Webhook %s is disabled%s; enable it (PUT is_enabled: true) before sending to it", id, why)}
	}
	return w, nil
}

// checkDeliveryState checks a state given in field: any state for a
// filter ("" for all), failed or succeeded for a replay.
func checkDeliveryState(field, state string, filter bool) error {
	switch {
	case state == DeliveryFailed || state == DeliverySucceeded:
		return nil
	case filter && (state == "" || state == DeliveryPending):
		return nil
	case filter:
		return FieldError(field, "%s must be pending, succeeded or failed, not %q", field, truncate(state, 64))
	}
	return FieldError(field, "%s must be failed or succeeded, not %q", field, truncate(state, 64))
}

// deliveryEventType reads an event filter: a name, its kebab form, or Test.
func deliveryEventType(s string) (string, error) {
	if KnownEvent(s) || s == EventTest {
		return s, nil
	}
	if e, ok := EventFromKebab(s); ok {
		return e, nil
	}
	if s == EventKebab(EventTest) {
		return EventTest, nil
	}
	return "", InvalidEvent("event", s)
}

// checkEventID refuses what cannot be an event id NewEventID made, so
// that a path holding anything answers 404 without a query.
func checkEventID(id string) error {
	rest, ok := strings.CutPrefix(id, "msg_")
	if !ok || rest == "" || len(rest) > 64 || strings.IndexFunc(rest, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')
	}) >= 0 {
		return DeliveryNotFound(id)
	}
	return nil
}

// DeliveryNotFound is the error of a delivery an endpoint does not have.
func DeliveryNotFound(eventID string) error {
	return &Error{Code: ENOTFOUND, Field: "delivery_id", Type: "RESOURCE_NOT_FOUND", Message: fmt.Sprintf("Delivery %s not found", truncate(eventID, 80))}
}
