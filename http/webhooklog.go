package http

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// deliveryJSON is one event's delivery to an endpoint.
type deliveryJSON struct {
	EventID       string  `json:"event_id"`
	EventType     string  `json:"event_type"`
	State         string  `json:"state"`
	Attempts      int     `json:"attempts"`
	NextAttemptAt *string `json:"next_attempt_at"`
	CreatedAt     string  `json:"createdAt"`
	UpdatedAt     string  `json:"updatedAt"`
}

func renderDelivery(d *linkd.Delivery) deliveryJSON {
	dj := deliveryJSON{EventID: d.EventID, EventType: d.EventType, State: d.State, Attempts: d.Attempts,
		CreatedAt: wireTime(d.CreatedAt), UpdatedAt: wireTime(d.UpdatedAt)}
	if d.State == linkd.DeliveryPending {
		next := wireTime(d.NextAt)
		dj.NextAttemptAt = &next
	}
	return dj
}

// deliveryListJSON is the compatible API's page shape (as GET
// linked-accounts answers) over an endpoint's deliveries.
type deliveryListJSON struct {
	Docs          []deliveryJSON `json:"docs"`
	TotalDocs     int64          `json:"totalDocs"`
	Limit         int            `json:"limit"`
	TotalPages    int64          `json:"totalPages"`
	Page          int            `json:"page"`
	PagingCounter int            `json:"pagingCounter"`
	HasPrevPage   bool           `json:"hasPrevPage"`
	HasNextPage   bool           `json:"hasNextPage"`
	PrevPage      *int           `json:"prevPage"`
	NextPage      *int           `json:"nextPage"`
}

// handleListDeliveries lists an endpoint's deliveries, newest first, in
// the compatible API's paging shape: ?state=pending|succeeded|failed,
// ?event= (a name or its kebab form), ?limit= from 1 to MaxPageLimit,
// ?page= from 1.
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := linkd.DeliveryFilter{Limit: linkd.DefaultPageLimit, State: q.Get("state"), Event: q.Get("event")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > linkd.MaxPageLimit {
			return linkd.FieldError("limit", "limit must be a whole number from 1 to %d", linkd.MaxPageLimit)
		}
		f.Limit = n
	}
	page := 1
	if v := q.Get("page"); v != "" {
		maxPage := maxOffset/f.Limit + 1
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return linkd.FieldError("page", "page must be a whole number from 1 to %d with limit %d", maxPage, f.Limit)
		}
		page = n
	}
	f.Offset = (page - 1) * f.Limit
	p, err := s.webhooks.DeliveryLog(r.Context(), tenant(r), r.PathValue("id"), f)
	if err != nil {
		return err
	}
	out := deliveryListJSON{Docs: make([]deliveryJSON, 0, len(p.Deliveries)), TotalDocs: p.Total, Limit: f.Limit,
		TotalPages: int64(math.Ceil(float64(p.Total) / float64(f.Limit))), Page: page, PagingCounter: f.Offset + 1,
		HasPrevPage: page > 1, HasNextPage: int64(f.Offset+len(p.Deliveries)) < p.Total}
	for _, d := range p.Deliveries {
		out.Docs = append(out.Docs, renderDelivery(d))
	}
	if out.HasPrevPage {
		prev := page - 1
		out.PrevPage = &prev
	}
	if out.HasNextPage {
		next := page + 1
		out.NextPage = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// attemptJSON is one attempt of a delivery as the log keeps it: the
// response's headers redacted, its body cut at linkd.MaxAttemptBody.
type attemptJSON struct {
	Attempt         int               `json:"attempt"`
	At              string            `json:"at"`
	Status          int               `json:"status"`
	DurationMS      float64           `json:"duration_ms"`
	ResponseHeaders map[string]string `json:"response_headers"`
	ResponseBody    string            `json:"response_body"`
	Error           string            `json:"error"`
}

type eventJSON struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt string          `json:"createdAt"`
}

type deliveryDetailJSON struct {
	deliveryJSON
	WebhookID   string        `json:"webhook_id"`
	Event       eventJSON     `json:"event"`
	AttemptsLog []attemptJSON `json:"attempts_log"`
}

// handleGetDelivery answers one delivery with its event and attempts.
func (s *Server) handleGetDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks.Delivery(r.Context(), tenant(r), r.PathValue("id"), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	out := deliveryDetailJSON{deliveryJSON: renderDelivery(d.Delivery), WebhookID: d.Delivery.WebhookID,
		Event:       eventJSON{ID: d.Event.ID, Type: d.Event.Type, Payload: d.Event.Payload, CreatedAt: wireTime(d.Event.CreatedAt)},
		AttemptsLog: make([]attemptJSON, 0, len(d.Attempts))}
	for _, a := range d.Attempts {
		h := a.Headers
		if h == nil {
			h = map[string]string{}
		}
		out.AttemptsLog = append(out.AttemptsLog, attemptJSON{Attempt: a.N, At: wireTime(a.At), Status: a.Status,
			DurationMS: float64(a.Duration.Microseconds()) / 1000, ResponseHeaders: h, ResponseBody: string(a.Body), Error: a.Error})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRedeliver makes one more attempt of a delivery, due now, with the
// same webhook-id, and answers the delivery. It takes no body, so no
// Idempotency-Key: a retry only brings the same delivery forward again.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooks.Redeliver(r.Context(), tenant(r), actor(r), r.PathValue("id"), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderDelivery(d))
	return nil
}

// handleTestWebhook sends a Test event to this endpoint only, through the
// outbox, and answers its delivery (pending). It takes no body, so no
// Idempotency-Key: a retry sends another test event, which is harmless.
func (s *Server) handleTestWebhook(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.webhooks.SendTest(r.Context(), tenant(r), actor(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderDelivery(&linkd.Delivery{EventID: ev.ID, EventType: ev.Type, State: linkd.DeliveryPending,
		NextAt: ev.CreatedAt, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}))
	return nil
}

// handleReplay makes an endpoint's deliveries due again:
// {"since", "until"?, "state"?: "failed"|"succeeded"}, answering how many.
func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		Since string `json:"since"`
		Until string `json:"until"`
		State string `json:"state"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	var rp linkd.DeliveryReplay
	for _, p := range []struct {
		name string
		v    string
		to   *time.Time
	}{{"since", req.Since, &rp.Since}, {"until", req.Until, &rp.Until}} {
		if p.v == "" {
			continue
		}
		tm, err := parseTime(p.v)
		if err != nil {
			return linkd.FieldError(p.name, "%s must be an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)", p.name)
		}
		*p.to = tm
	}
	rp.State = req.State
	n, err := s.webhooks.Replay(r.Context(), tenant(r), actor(r), r.PathValue("id"), rp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
	return nil
}
