package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// handleSendTestWebhook queues a Test event for one endpoint (POST
// /settings/webhooks/{id}/test) through the outbox, like any event: the
// sender signs, retries and logs it. A disabled endpoint is refused with
// the service's reason on the endpoint's page.
func (h *Handler) handleSendTestWebhook(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	svc := h.cfg.Services.Webhooks
	ev, err := svc.SendTest(r.Context(), c.Tenant(), c.Actor(), r.PathValue("id"))
	if linkd.ErrorCode(err) == linkd.ECONFLICT {
		wh, gerr := svc.Get(r.Context(), c.Tenant(), r.PathValue("id"))
		if gerr != nil {
			return gerr
		}
		form := webhookForm{URL: wh.URL, Events: wh.Events, Slug: wh.Slug, Description: wh.Description}
		return h.renderWebhook(w, r, http.StatusConflict, wh, form, false, linkd.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	h.redirectNotice(w, r, "/settings/webhooks/"+r.PathValue("id")+"#delivery-"+ev.ID,
		"Test event queued: it is sent within seconds, and listed below.")
	return nil
}

// attemptView is one attempt of a delivery as the detail page shows it.
type attemptView struct {
	*linkd.DeliveryAttempt
	// Headers sorted by name, for a stable reading order.
	HeaderNames []string
	// Body is the kept start of the answer as text; BodyBinary when it is
	// not UTF-8 (shown as a size only).
	Body       string
	BodyBinary bool
}

type settingsWebhookDeliveryData struct {
	Webhook  *linkd.Webhook
	Delivery *linkd.Delivery
	Event    *linkd.Event
	// Payload is the event's JSON, indented to be read.
	Payload  string
	Attempts []attemptView
	Alert    string
}

// handleWebhookDelivery shows one delivery: its event and payload, and
// every attempt made with the endpoint's answer.
func (h *Handler) handleWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	return h.renderWebhookDelivery(w, r, http.StatusOK, "")
}

func (h *Handler) renderWebhookDelivery(w http.ResponseWriter, r *http.Request, status int, alert string) error {
	t := current(r).Tenant()
	svc := h.cfg.Services.Webhooks
	wh, err := svc.Get(r.Context(), t, r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := svc.Delivery(r.Context(), t, wh.ID, r.PathValue("event"))
	if err != nil {
		return err
	}
	data := settingsWebhookDeliveryData{Webhook: wh, Delivery: d.Delivery, Event: d.Event, Alert: alert}
	var buf bytes.Buffer
	if json.Indent(&buf, d.Event.Payload, "", "  ") == nil {
		data.Payload = buf.String()
	} else {
		data.Payload = string(d.Event.Payload)
	}
	// Newest attempt first: the one that explains the state.
	for _, a := range slices.Backward(d.Attempts) {
		v := attemptView{DeliveryAttempt: a}
		for k := range a.Headers {
			v.HeaderNames = append(v.HeaderNames, k)
		}
		slices.SortFunc(v.HeaderNames, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		if utf8.Valid(a.Body) {
			v.Body = string(a.Body)
		} else {
			v.BodyBinary = true
		}
		data.Attempts = append(data.Attempts, v)
	}
	return h.render(w, r, status, "settings_webhook_delivery", settingsPage("Delivery "+d.Delivery.EventID, data))
}

// handleRedeliverWebhook makes one more attempt of a delivery, due now
// and with the same webhook-id (POST …/deliveries/{event}/redeliver). A
// disabled endpoint is refused with the service's reason.
func (h *Handler) handleRedeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	_, err := h.cfg.Services.Webhooks.Redeliver(r.Context(), c.Tenant(), c.Actor(), r.PathValue("id"), r.PathValue("event"))
	if linkd.ErrorCode(err) == linkd.ECONFLICT {
		return h.renderWebhookDelivery(w, r, http.StatusConflict, linkd.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	h.redirectNotice(w, r, "/settings/webhooks/"+r.PathValue("id")+"/deliveries/"+r.PathValue("event"),
		"Redelivery queued: one more attempt is due now.")
	return nil
}
