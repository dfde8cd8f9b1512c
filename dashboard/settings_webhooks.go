package dashboard

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// webhookRow is one endpoint in the list, with its health.
type webhookRow struct {
	Webhook *linkd.Webhook
	Health  linkd.WebhookHealth
}

// webhookForm is the create or edit form as typed, with its errors by
// field (url, events, slug, description) and one for the rest.
type webhookForm struct {
	URL         string
	Events      []string
	Slug        string
	Description string
	Errors      map[string]string
	Error       string
}

// Checked reports whether the form subscribes to event.
func (f webhookForm) Checked(event string) bool { return slices.Contains(f.Events, event) }

type settingsWebhooksData struct {
	Env      linkd.Environment
	Webhooks []webhookRow
	Enabled  int
	Form     webhookForm
	// The choices of the form.
	Events []string
	Apps   []*linkd.App
	// Full: the environment has as many endpoints as it may.
	Full bool
}

// webhookApps are the catalog's apps, for the form's slug filter; none
// without a catalog (the filter is then a text the service checks).
func (h *Handler) webhookApps() []*linkd.App {
	if h.cfg.Connections == nil || h.cfg.Connections.Catalog == nil {
		return nil
	}
	return h.cfg.Connections.Catalog.Apps()
}

// handleWebhooks lists the environment's endpoints with their health and
// the form to add one.
func (h *Handler) handleWebhooks(w http.ResponseWriter, r *http.Request) error {
	return h.renderWebhooks(w, r, http.StatusOK, webhookForm{Events: []string{linkd.EventConnectionCreated, linkd.EventConnectionDeleted, linkd.EventConnectionExpired}})
}

func (h *Handler) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, form webhookForm) error {
	t := current(r).Tenant()
	svc := h.cfg.Services.Webhooks
	all, err := svc.List(r.Context(), t)
	if err != nil {
		return err
	}
	data := settingsWebhooksData{Env: t.Env, Form: form, Events: linkd.WebhookEvents, Apps: h.webhookApps(), Full: len(all) >= linkd.MaxWebhooksPerTenant}
	for _, wh := range all {
		health, err := svc.Health(r.Context(), t, wh.ID)
		if err != nil {
			return err
		}
		data.Webhooks = append(data.Webhooks, webhookRow{Webhook: wh, Health: health})
		if wh.Enabled {
			data.Enabled++
		}
	}
	return h.render(w, r, status, "settings_webhooks", settingsPage("Webhooks", data))
}

// readWebhookForm reads the create/edit form. Only the fields it shows
// are set, so saving an edit leaves the rest of the endpoint (headers,
// custom body, workflow filter, set through the API) as it is.
func readWebhookForm(r *http.Request) (webhookForm, linkd.WebhookInput, error) {
	if err := r.ParseForm(); err != nil {
		return webhookForm{}, linkd.WebhookInput{}, linkd.FieldError("body", "The form could not be read.")
	}
	f := webhookForm{URL: strings.TrimSpace(r.PostForm.Get("url")), Events: r.PostForm["event"],
		Slug: r.PostForm.Get("slug"), Description: strings.TrimSpace(r.PostForm.Get("description"))}
	events := slices.Clone(f.Events)
	if events == nil {
		events = []string{}
	}
	return f, linkd.WebhookInput{URL: &f.URL, Events: &events, Slug: &f.Slug, Description: &f.Description}, nil
}

// formError puts a service's refusal next to the field it names.
func (f *webhookForm) formError(err error) {
	field := ""
	if e, ok := err.(*linkd.Error); ok {
		field = e.Field
	}
	name := ""
	switch {
	case field == "webhook_url":
		name = "url"
	case strings.HasPrefix(field, "webhook_events"):
		name = "events"
	case field == "slug", field == "description":
		name = field
	}
	if name == "" {
		f.Error = linkd.ErrorMessage(err)
		return
	}
	f.Errors = map[string]string{name: linkd.ErrorMessage(err)}
}

type settingsWebhookSecretData struct {
	Webhook *linkd.Webhook
	Secret  string
	Rotated bool
	// OldUntil is when the replaced secret stops signing (zero: it
	// already has).
	OldUntil time.Time
}

// handleCreateWebhook creates an endpoint and shows its signing secret
// once, in this response (never in a URL, cookie, redirect or log): only
// its sealed form is stored.
func (h *Handler) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	form, in, err := readWebhookForm(r)
	if err != nil {
		return err
	}
	wh, secret, err := h.cfg.Services.Webhooks.Create(r.Context(), c.Tenant(), c.Actor(), in)
	if linkd.ErrorCode(err) == linkd.EINVALID {
		form.formError(err)
		return h.renderWebhooks(w, r, http.StatusBadRequest, form)
	} else if err != nil {
		return err
	}
	h.logger.InfoContext(r.Context(), "webhook created", "webhook_id", wh.ID, "org_id", c.Session.OrgID, "environment", c.Session.Env, "actor", c.Actor())
	return h.render(w, r, http.StatusCreated, "settings_webhook_secret", settingsPage("Webhook created", settingsWebhookSecretData{Webhook: wh, Secret: secret}))
}

type settingsWebhookData struct {
	Webhook    *linkd.Webhook
	Health     linkd.WebhookHealth
	Deliveries []*linkd.Delivery
	Form       webhookForm
	Events     []string
	Apps       []*linkd.App
	// Editing: the edit form is open (after ?edit or a refused save).
	Editing bool
	// Filter is the delivery log's filter (state, event) as asked, Total
	// how many deliveries it selects.
	Filter webhookLogFilter
	Total  int64
	// Alert is a refused action's message (sending to a disabled endpoint).
	Alert string
}

// webhookLogFilter is the delivery log's GET form.
type webhookLogFilter struct {
	State  string
	Event  string
	States []string
	Events []string
}

// Active reports whether the filter selects fewer than every delivery.
func (f webhookLogFilter) Active() bool { return f.State != "" || f.Event != "" }

// webhookLogSize is how many deliveries the endpoint's page lists.
const webhookLogSize = 50

// handleWebhook shows one endpoint: its settings, health, the actions on
// it and its latest deliveries. With ?edit it opens the edit form.
func (h *Handler) handleWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := h.cfg.Services.Webhooks.Get(r.Context(), current(r).Tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	form := webhookForm{URL: wh.URL, Events: wh.Events, Slug: wh.Slug, Description: wh.Description}
	return h.renderWebhook(w, r, http.StatusOK, wh, form, r.URL.Query().Has("edit"), "")
}

// renderWebhook shows the endpoint's page; its delivery log is filtered
// by the query's state and event (a filter the service refuses is a 400
// naming the field, like the API's).
func (h *Handler) renderWebhook(w http.ResponseWriter, r *http.Request, status int, wh *linkd.Webhook, form webhookForm, editing bool, alert string) error {
	t := current(r).Tenant()
	svc := h.cfg.Services.Webhooks
	q := r.URL.Query()
	filter := webhookLogFilter{State: q.Get("state"), Event: q.Get("event"),
		States: []string{linkd.DeliveryPending, linkd.DeliverySucceeded, linkd.DeliveryFailed},
		Events: append(slices.Clone(linkd.WebhookEvents), linkd.EventTest)}
	log, err := svc.DeliveryLog(r.Context(), t, wh.ID, linkd.DeliveryFilter{State: filter.State, Event: filter.Event, Limit: webhookLogSize})
	if err != nil {
		return err
	}
	health, err := svc.Health(r.Context(), t, wh.ID)
	if err != nil {
		return err
	}
	data := settingsWebhookData{Webhook: wh, Health: health, Deliveries: log.Deliveries, Form: form, Events: linkd.WebhookEvents,
		Apps: h.webhookApps(), Editing: editing, Filter: filter, Total: log.Total, Alert: alert}
	return h.render(w, r, status, "settings_webhook", settingsPage("Webhook "+wh.URL, data))
}

// handleEditWebhook saves the edit form: the URL, events, app filter and
// description; nothing else of the endpoint changes.
func (h *Handler) handleEditWebhook(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	svc := h.cfg.Services.Webhooks
	form, in, err := readWebhookForm(r)
	if err != nil {
		return err
	}
	wh, err := svc.Update(r.Context(), c.Tenant(), c.Actor(), r.PathValue("id"), in)
	if linkd.ErrorCode(err) == linkd.EINVALID {
		cur, gerr := svc.Get(r.Context(), c.Tenant(), r.PathValue("id"))
		if gerr != nil {
			return gerr
		}
		form.formError(err)
		return h.renderWebhook(w, r, http.StatusBadRequest, cur, form, true, "")
	} else if err != nil {
		return err
	}
	h.redirectNotice(w, r, "/settings/webhooks/"+wh.ID, "Webhook saved.")
	return nil
}

// handleWebhookEnabled enables or disables an endpoint (POST
// /settings/webhooks/{id}/enable|disable). A disabled endpoint gets no
// new deliveries; enabling one clears the reason linkd disabled it.
func (h *Handler) handleWebhookEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c := current(r)
		wh, err := h.cfg.Services.Webhooks.Update(r.Context(), c.Tenant(), c.Actor(), r.PathValue("id"), linkd.WebhookInput{Enabled: &enabled})
		if err != nil {
			return err
		}
		notice := "Webhook disabled: it receives no new events until you enable it."
		if enabled {
			notice = "Webhook enabled: it receives new events from now on."
		}
		h.redirectNotice(w, r, localPath(r.PostFormValue("back"), "/settings/webhooks/"+wh.ID), notice)
		return nil
	}
}

// handleRotateWebhookSecret confirms (GET) and rotates (POST) an
// endpoint's signing secret, showing the new one once in the response.
func (h *Handler) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	svc := h.cfg.Services.Webhooks
	wh, err := svc.Get(r.Context(), c.Tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		return h.render(w, r, http.StatusOK, "settings_webhook_rotate", settingsPage("Rotate signing secret", wh))
	}
	overlap := linkd.DefaultSecretOverlap
	if v := r.PostFormValue("overlap"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > int64(linkd.MaxSecretOverlap/time.Second) {
			return linkd.FieldError("overlap", "the overlap must be a number of seconds from 0 to %d", int64(linkd.MaxSecretOverlap/time.Second))
		}
		overlap = time.Duration(n) * time.Second
	}
	secret, until, err := svc.RotateSecret(r.Context(), c.Tenant(), c.Actor(), wh.ID, overlap)
	if err != nil {
		return err
	}
	if overlap == 0 {
		until = time.Time{}
	}
	h.logger.InfoContext(r.Context(), "webhook secret rotated", "webhook_id", wh.ID, "org_id", c.Session.OrgID, "environment", c.Session.Env, "actor", c.Actor())
	return h.render(w, r, http.StatusOK, "settings_webhook_secret", settingsPage("Signing secret rotated", settingsWebhookSecretData{Webhook: wh, Secret: secret, Rotated: true, OldUntil: until}))
}

// handleDeleteWebhook confirms (GET) and deletes (POST) an endpoint with
// its deliveries.
func (h *Handler) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	svc := h.cfg.Services.Webhooks
	wh, err := svc.Get(r.Context(), c.Tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		return h.render(w, r, http.StatusOK, "settings_webhook_delete", settingsPage("Delete webhook", wh))
	}
	if err := svc.Delete(r.Context(), c.Tenant(), c.Actor(), wh.ID); err != nil {
		return err
	}
	h.redirectNotice(w, r, "/settings/webhooks", "Webhook to "+wh.URL+" deleted.")
	return nil
}
