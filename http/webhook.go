package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// webhookJSON is a webhook endpoint in the compatible API's shape. The
// signing secret is not in it: only the create and rotate-secret answers
// carry it (webhookCreatedJSON), once.
type webhookJSON struct {
	ID          string            `json:"_id"`
	OrgID       string            `json:"org_id"`
	Environment string            `json:"environment"`
	Enabled     bool              `json:"is_enabled"`
	Events      []string          `json:"webhook_events"`
	URL         string            `json:"webhook_url"`
	Type        string            `json:"webhook_type"`
	Method      string            `json:"method"`
	Headers     map[string]string `json:"webhook_headers"`
	Body        string            `json:"webhook_body"`
	Slug        string            `json:"slug"`
	WorkflowIDs []string          `json:"workflow_ids"`
	Description string            `json:"description"`
	Group       string            `json:"group"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
	// SigningKeyRevoked is linkd's one extension of the reference's shape:
	// present (true) when the API key that signed x-cobalt-signature was
	// revoked, so deliveries go without it until a save with a live key.
	SigningKeyRevoked bool `json:"signing_key_revoked,omitempty"`
}

// webhookCreatedJSON is the answer to a create: the endpoint and its
// signing secret, which no later answer shows.
type webhookCreatedJSON struct {
	webhookJSON
	Secret string `json:"secret"`
}

func renderWebhook(t linkd.Tenant, w *linkd.Webhook) webhookJSON {
	out := webhookJSON{ID: w.ID, OrgID: t.OrgID, Environment: string(t.Env), Enabled: w.Enabled, Events: w.Events, URL: w.URL,
		Type: w.Type, Method: w.Method, Headers: w.Headers, Body: w.Body, Slug: w.Slug, WorkflowIDs: w.WorkflowIDs,
		Description: w.Description, Group: w.Group, SigningKeyRevoked: w.SigningKeyRevoked != "",
		CreatedAt: wireTime(w.CreatedAt), UpdatedAt: wireTime(w.UpdatedAt)}
	if out.Events == nil {
		out.Events = []string{}
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	if out.WorkflowIDs == nil {
		out.WorkflowIDs = []string{}
	}
	return out
}

func renderWebhooks(t linkd.Tenant, ws []*linkd.Webhook) []webhookJSON {
	out := make([]webhookJSON, 0, len(ws))
	for _, w := range ws {
		out = append(out, renderWebhook(t, w))
	}
	return out
}

// webhookRequest is the body of POST and PUT /api/v2/public/webhook[/{id}];
// absent (or null) fields are left alone.
type webhookRequest struct {
	Enabled     *bool              `json:"is_enabled"`
	Events      *[]string          `json:"webhook_events"`
	URL         *string            `json:"webhook_url"`
	Type        *string            `json:"webhook_type"`
	Method      *string            `json:"method"`
	Headers     *map[string]string `json:"webhook_headers"`
	Body        *string            `json:"webhook_body"`
	Slug        *string            `json:"slug"`
	WorkflowIDs *[]string          `json:"workflow_ids"`
	Description *string            `json:"description"`
	Group       *string            `json:"group"`
}

func (q *webhookRequest) input() linkd.WebhookInput {
	return linkd.WebhookInput{Enabled: q.Enabled, Events: q.Events, URL: q.URL, Type: q.Type, Method: q.Method, Headers: q.Headers,
		Body: q.Body, Slug: q.Slug, WorkflowIDs: q.WorkflowIDs, Description: q.Description, Group: q.Group}
}

// signingKey is the caller's API key in clear, which becomes the key of
// the saved endpoint's x-cobalt-signature (the reference signs with the
// environment's API key; linkd keeps only its hash otherwise). The
// service checks it is the key the request authenticated as, and seals
// it; it is never logged nor answered.
func signingKey(r *http.Request) *linkd.SigningKey {
	c := callerFrom(r.Context())
	if c == nil || c.key == nil {
		return nil
	}
	return &linkd.SigningKey{KeyID: c.key.ID, Secret: r.Header.Get("x-api-key")}
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	ws, err := s.webhooks.List(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderWebhooks(t, ws))
	return nil
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	wh, err := s.webhooks.Get(r.Context(), t, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderWebhook(t, wh))
	return nil
}

// handleCreateWebhook creates an endpoint and answers it with its signing
// secret ("secret"), shown this once.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req webhookRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t := tenant(r)
	in := req.input()
	in.SigningKey = signingKey(r)
	wh, secret, err := s.webhooks.Create(r.Context(), t, actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookCreatedJSON{renderWebhook(t, wh), secret})
	return nil
}

// handleUpdateWebhook is a partial patch: only the fields sent change.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req webhookRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t := tenant(r)
	in := req.input()
	in.SigningKey = signingKey(r)
	wh, err := s.webhooks.Update(r.Context(), t, actor(r), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderWebhook(t, wh))
	return nil
}

// handleDeleteWebhook deletes one endpoint and answers the remaining ones,
// as the compatible API does.
func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	if err := s.webhooks.Delete(r.Context(), t, actor(r), r.PathValue("id")); err != nil {
		return err
	}
	return s.handleListWebhooks(w, r)
}

// handleDeleteAllWebhooks is the Node SDK's deleteWebhook(), which names
// no endpoint: from the days of one endpoint per environment, it deletes
// every endpoint of the key's environment and answers the remaining ones
// (none).
func (s *Server) handleDeleteAllWebhooks(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	if _, err := s.webhooks.DeleteAll(r.Context(), t, actor(r)); err != nil {
		return err
	}
	return s.handleListWebhooks(w, r)
}

// handleEditWebhookGroup sets the group of several endpoints:
// {"webhookIds": [...], "group": "name"} ("" removes it).
func (s *Server) handleEditWebhookGroup(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		IDs   []string `json:"webhookIds"`
		Group *string  `json:"group"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	group := ""
	if req.Group != nil {
		group = *req.Group
	}
	t := tenant(r)
	ws, err := s.webhooks.EditGroup(r.Context(), t, actor(r), req.IDs, group, signingKey(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderWebhooks(t, ws))
	return nil
}

// subscriptionJSON answers the deprecated subscribe routes: the oldest
// endpoint's URL and events, in kebab case like their requests. Secret is
// set only when subscribing made the endpoint.
type subscriptionJSON struct {
	URL    string   `json:"webhook_url"`
	Events []string `json:"webhook_events"`
	ID     string   `json:"_id"`
	Secret string   `json:"secret,omitempty"`
}

func renderSubscription(wh *linkd.Webhook, secret string) subscriptionJSON {
	out := subscriptionJSON{URL: wh.URL, Events: make([]string, 0, len(wh.Events)), ID: wh.ID, Secret: secret}
	for _, e := range wh.Events {
		out.Events = append(out.Events, linkd.EventKebab(e))
	}
	return out
}

// handleSubscribeWebhook is the deprecated POST …/webhook/subscribe:
// {"webhook_events": ["connection-created", …], "webhook_url"?}. It adds
// the events to the environment's oldest endpoint, making one (which needs
// webhook_url) when there is none.
func (s *Server) handleSubscribeWebhook(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		Events *[]string `json:"webhook_events"`
		URL    string    `json:"webhook_url"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.Events == nil || len(*req.Events) == 0 {
		return &linkd.Error{Code: linkd.EINVALID, Field: "webhook_events", Type: "INVALID_EVENT", Message: "webhook_events is required: a list of event names such as connection-created"}
	}
	events := make([]string, 0, len(*req.Events))
	for i, k := range *req.Events {
		e, ok := linkd.EventFromKebab(k)
		if !ok {
			return linkd.InvalidEvent("webhook_events["+strconv.Itoa(i)+"]", k)
		}
		events = append(events, e)
	}
	wh, secret, err := s.webhooks.Subscribe(r.Context(), tenant(r), actor(r), events, req.URL, signingKey(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderSubscription(wh, secret))
	return nil
}

// handleUnsubscribeWebhook is the deprecated POST …/webhook/unsubscribe:
// {"webhook_event": "connection-created"}, removed from the oldest endpoint.
func (s *Server) handleUnsubscribeWebhook(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		Event string `json:"webhook_event"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	e, ok := linkd.EventFromKebab(req.Event)
	if !ok {
		return linkd.InvalidEvent("webhook_event", req.Event)
	}
	wh, err := s.webhooks.Unsubscribe(r.Context(), tenant(r), actor(r), e)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderSubscription(wh, ""))
	return nil
}

// handleRotateWebhookSecret gives the endpoint a new signing secret and
// answers it, once: {"_id", "secret", "previous_secret_expires_at"}. An
// optional body {"overlap_seconds": N} says how long the old secret keeps
// signing beside the new one (default 24 hours; 0 retires it at once).
// It has no Idempotency-Key: a retry makes another secret, and the last
// one answered is the one that signs.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	overlap := linkd.DefaultSecretOverlap
	if r.ContentLength != 0 {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		var in struct {
			OverlapSeconds *int64 `json:"overlap_seconds"`
		}
		if err := decodeJSON(body, &in); err != nil {
			return err
		}
		if in.OverlapSeconds != nil {
			if *in.OverlapSeconds < 0 || *in.OverlapSeconds > int64(linkd.MaxSecretOverlap/time.Second) {
				return linkd.FieldError("overlap_seconds", "overlap_seconds must be between 0 and %d", int64(linkd.MaxSecretOverlap/time.Second))
			}
			overlap = time.Duration(*in.OverlapSeconds) * time.Second
		}
	}
	secret, until, err := s.webhooks.RotateSecret(r.Context(), tenant(r), actor(r), id, overlap)
	if err != nil {
		return err
	}
	out := struct {
		ID      string `json:"_id"`
		Secret  string `json:"secret"`
		Expires string `json:"previous_secret_expires_at,omitempty"`
	}{ID: id, Secret: secret}
	if overlap > 0 {
		out.Expires = until.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
