package linkd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/linkd-dev/linkd/tmpl"
)

// Audit actions of webhook endpoints. A rotated secret is an update whose
// Fields say "secret"; the secret itself is never in an entry.
const (
	// auditFieldSigningKey is the audit field of a new key binding.
	auditFieldSigningKey = "compat_signing_key_id"
	AuditWebhookCreate   = "webhook.create"
	AuditWebhookUpdate   = "webhook.update"
	AuditWebhookDelete   = "webhook.delete"
)

// Webhook types and methods.
const (
	WebhookTypeDefault = "default"
	WebhookTypeCustom  = "custom"
	// DefaultWebhookBody is the body the compatible API shows for a default
	// endpoint: the event itself.
	DefaultWebhookBody = "{{event}}"
)

// Limits on webhook input. They bound what one endpoint costs to store and
// to send, far above what a real endpoint needs.
const (
	MaxWebhookURLBytes     = 2048
	MaxWebhookHeaders      = 20
	MaxWebhookHeaderBytes  = 4096 // a header's value
	MaxWebhookWorkflowIDs  = 100
	MaxWebhookDescription  = 1000 // bytes
	MaxWebhookGroupBytes   = 255
	MaxWebhookWorkflowID   = 255
	MaxWebhooksPerTenant   = 100
	maxWebhookHeaderName   = 256
	webhookEventsFieldName = "webhook_events"
)

// WebhookInput is a create or a partial update of an endpoint after
// decoding; a nil field was absent and leaves the stored value alone (on
// create: the default).
type WebhookInput struct {
	Enabled     *bool
	Events      *[]string
	URL         *string
	Type        *string
	Method      *string
	Headers     *map[string]string
	Body        *string
	Slug        *string
	WorkflowIDs *[]string
	Description *string
	Group       *string
	// SigningKey is the API key of the request that saves the endpoint:
	// it becomes the key that signs its x-cobalt-signature (the
	// reference's scheme, an HMAC under the raw key). Nil leaves the
	// binding alone.
	SigningKey *SigningKey
}

// SigningKey is a caller's API key in clear, as its x-api-key carried it,
// and the id of the key it authenticated as. It prints as the id only, so
// that no log or error shows the secret.
type SigningKey struct {
	KeyID  string
	Secret string
}

func (k SigningKey) String() string             { return "SigningKey{" + k.KeyID + "}" }
func (k SigningKey) GoString() string           { return k.String() }
func (k SigningKey) LogValue() slog.Value       { return slog.StringValue(k.String()) }
func (k SigningKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// apiKeyFinder is how the service checks a signing key: the store's
// lookup by hash.
type apiKeyFinder interface {
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
}

// WebhookService creates, changes and deletes a tenant's webhook endpoints,
// with one set of rules for the API and (later) the dashboard. Every change
// is audited; the signing secret is sealed and shown only by Create and
// RotateSecret.
type WebhookService struct {
	store   webhookLogStore
	keys    Keyring
	apiKeys apiKeyFinder // nil: the store keeps no API keys
	// Catalog, when set, is the apps an endpoint's slug filter may name;
	// without it a slug is only checked for its form.
	Catalog Catalog
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewWebhookService returns the service over store, sealing secrets with keys.
func NewWebhookService(store webhookLogStore, keys Keyring) *WebhookService {
	s := &WebhookService{store: store, keys: keys}
	s.apiKeys, _ = store.(apiKeyFinder)
	return s
}

// checkSigningKey checks that k's secret is the live API key k.KeyID of
// tenant t (what the API's authentication found), so that only a key that
// could call the API for t signs t's deliveries.
func (s *WebhookService) checkSigningKey(ctx context.Context, t Tenant, k *SigningKey) error {
	bad := &Error{Code: EINVALID, Field: "x-api-key", Message: "the x-api-key that saves a webhook signs its x-cobalt-signature, and must be a live API key of this environment"}
	if s.apiKeys == nil || !LooksLikeAPIKey(k.Secret) {
		return bad
	}
	key, err := s.apiKeys.APIKeyByHash(ctx, HashAPIKey(k.Secret))
	if ErrorCode(err) == ENOTFOUND {
		return bad
	} else if err != nil {
		return err
	}
	if key.ID != k.KeyID || key.Tenant() != t || key.RevokedAt != nil {
		return bad
	}
	return nil
}

// bindSigningKey seals k into w as the key of its x-cobalt-signature and
// reports whether that changed anything: saving again with the key that
// already signs, live, rewrites nothing.
func (s *WebhookService) bindSigningKey(t Tenant, w *Webhook, k *SigningKey) (bool, error) {
	if k == nil || w.SigningKeyID == k.KeyID && w.CompatSigns() {
		return false, nil
	}
	if err := SealCompatKey(s.keys, t, w, k.KeyID, k.Secret); err != nil {
		return false, fmt.Errorf("seal signing key: %w", err)
	}
	return true, nil
}

func (s *WebhookService) now() time.Time { return StoreTime(NowOf(s.Now)) }

// List returns the tenant's endpoints, oldest first.
func (s *WebhookService) List(ctx context.Context, t Tenant) ([]*Webhook, error) {
	return s.store.Webhooks(ctx, t)
}

// Get returns one endpoint; ENOTFOUND when the tenant has none with id.
func (s *WebhookService) Get(ctx context.Context, t Tenant, id string) (*Webhook, error) {
	if err := checkWebhookID(id); err != nil {
		return nil, err
	}
	return s.store.Webhook(ctx, t, id)
}

// Deliveries returns an endpoint's latest deliveries, newest first.
func (s *WebhookService) Deliveries(ctx context.Context, t Tenant, id string, limit int) ([]*Delivery, error) {
	if _, err := s.Get(ctx, t, id); err != nil {
		return nil, err
	}
	return s.store.Deliveries(ctx, t, id, limit)
}

// checkWebhookID refuses ids that cannot be one linkd made, so that a
// path holding anything at all answers 404 without a query.
func checkWebhookID(id string) error {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-')
	}) >= 0 {
		return WebhookNotFound(id)
	}
	return nil
}

// Create makes an endpoint from in (webhook_url and webhook_events are
// required) with a fresh signing secret, and returns both: the secret is
// shown this once, only its sealed form is stored.
func (s *WebhookService) Create(ctx context.Context, t Tenant, actor string, in WebhookInput) (*Webhook, string, error) {
	if in.URL == nil {
		return nil, "", FieldError("webhook_url", "webhook_url is required")
	}
	if in.Events == nil {
		return nil, "", &Error{Code: EINVALID, Field: webhookEventsFieldName, Type: "INVALID_EVENT",
			Message: "webhook_events is required: a list of at least one of " + strings.Join(WebhookEvents, ", ")}
	}
	if in.SigningKey != nil {
		if err := s.checkSigningKey(ctx, t, in.SigningKey); err != nil {
			return nil, "", err
		}
	}
	existing, err := s.store.Webhooks(ctx, t)
	if err != nil {
		return nil, "", err
	}
	if len(existing) >= MaxWebhooksPerTenant {
		return nil, "", FieldError("webhook_url", "this environment has %d webhooks, the most it may have; delete one first", len(existing))
	}
	now := s.now()
	w := &Webhook{ID: NewID(), Enabled: true, Type: WebhookTypeDefault, Method: "POST", Headers: map[string]string{},
		Body: DefaultWebhookBody, CreatedAt: now, UpdatedAt: now}
	fields, err := s.apply(w, in)
	if err != nil {
		return nil, "", err
	}
	secret := NewWebhookSecret()
	if err := SealWebhookSecret(s.keys, t, w, secret); err != nil {
		return nil, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	fields = append(fields, "secret")
	if bound, err := s.bindSigningKey(t, w, in.SigningKey); err != nil {
		return nil, "", err
	} else if bound {
		fields = append(fields, auditFieldSigningKey)
	}
	ev := webhookAudit(w, AuditWebhookCreate, actor, now, fields)
	if err := s.store.CreateWebhook(ctx, t, w, ev); err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// Update applies the fields of in that are set to the endpoint id (a
// partial patch) and returns it as stored. Nothing is written when in
// changes nothing. Enabling an endpoint clears the reason linkd disabled it.
func (s *WebhookService) Update(ctx context.Context, t Tenant, actor, id string, in WebhookInput) (*Webhook, error) {
	if err := checkWebhookID(id); err != nil {
		return nil, err
	}
	if in.SigningKey != nil {
		if err := s.checkSigningKey(ctx, t, in.SigningKey); err != nil {
			return nil, err
		}
	}
	return s.put(ctx, t, id, s.patch(t, actor, in))
}

// patch is Update's change of one endpoint: what in sets, and the audit
// entry; the current endpoint and no entry when in changes nothing.
func (s *WebhookService) patch(t Tenant, actor string, in WebhookInput) func(cur *Webhook) (*Webhook, *AuditEntry, error) {
	return func(cur *Webhook) (*Webhook, *AuditEntry, error) {
		next := cloneWebhook(cur)
		fields, err := s.apply(next, in)
		if err != nil {
			return nil, nil, err
		}
		if bound, err := s.bindSigningKey(t, next, in.SigningKey); err != nil {
			return nil, nil, err
		} else if bound {
			fields = append(fields, auditFieldSigningKey)
		}
		if len(fields) == 0 {
			return cur, nil, nil
		}
		next.UpdatedAt = s.now()
		return next, webhookAudit(next, AuditWebhookUpdate, actor, next.UpdatedAt, fields), nil
	}
}

// put is the store's PutWebhook, except that fn may answer its current
// endpoint with no audit entry to write nothing at all.
func (s *WebhookService) put(ctx context.Context, t Tenant, id string, fn func(cur *Webhook) (*Webhook, *AuditEntry, error)) (*Webhook, error) {
	var unchanged *Webhook
	w, err := s.store.PutWebhook(ctx, t, id, func(cur *Webhook) (*Webhook, *AuditEntry, error) {
		next, ev, err := fn(cur)
		if err == nil && ev == nil {
			unchanged = cur
			return nil, nil, errUnchanged
		}
		return next, ev, err
	})
	if errors.Is(err, errUnchanged) {
		return unchanged, nil
	}
	return w, err
}

// errUnchanged rolls back a PutWebhook that would change nothing.
var errUnchanged = &Error{Code: EINTERNAL, Message: "unchanged"}

// RotateSecret gives the endpoint a new signing secret and returns it,
// shown this once. The old secret keeps signing each delivery beside the
// new one for overlap (0 to MaxSecretOverlap; 0 stops it at once), the
// time a receiver needs to switch; it replaces a previous secret still
// in its overlap. It returns when the old secret stops signing.
func (s *WebhookService) RotateSecret(ctx context.Context, t Tenant, actor, id string, overlap time.Duration) (secret string, oldUntil time.Time, err error) {
	if err := checkWebhookID(id); err != nil {
		return "", time.Time{}, err
	}
	if overlap < 0 || overlap > MaxSecretOverlap {
		return "", time.Time{}, FieldError("overlap_seconds", "overlap_seconds must be between 0 and %d", int(MaxSecretOverlap/time.Second))
	}
	secret = NewWebhookSecret()
	_, err = s.put(ctx, t, id, func(cur *Webhook) (*Webhook, *AuditEntry, error) {
		next := cloneWebhook(cur)
		next.UpdatedAt = s.now()
		next.PreviousSecret, next.PreviousUntil, oldUntil = nil, time.Time{}, next.UpdatedAt
		if overlap > 0 {
			old, err := OpenWebhookSecret(s.keys, t, cur)
			if err != nil {
				return nil, nil, fmt.Errorf("open webhook secret: %w", err)
			}
			sealed, err := s.keys.Seal(cur.DataKey, WebhookOwner(t, cur.ID), WebhookPreviousSecretField, []byte(old))
			if err != nil {
				return nil, nil, fmt.Errorf("seal webhook secret: %w", err)
			}
			next.PreviousSecret, next.PreviousUntil, oldUntil = sealed, next.UpdatedAt.Add(overlap), next.UpdatedAt.Add(overlap)
		}
		if err := SealWebhookSecret(s.keys, t, next, secret); err != nil {
			return nil, nil, fmt.Errorf("seal webhook secret: %w", err)
		}
		return next, webhookAudit(next, AuditWebhookUpdate, actor, next.UpdatedAt, []string{"secret"}), nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, oldUntil, nil
}

// Delete deletes the endpoint id and its deliveries.
func (s *WebhookService) Delete(ctx context.Context, t Tenant, actor, id string) error {
	if err := checkWebhookID(id); err != nil {
		return err
	}
	w := &Webhook{ID: id}
	return s.store.DeleteWebhook(ctx, t, id, webhookAudit(w, AuditWebhookDelete, actor, s.now(), nil))
}

// DeleteAll deletes every endpoint of the tenant (the Node SDK's
// deleteWebhook, which names none) and returns how many it deleted: all
// of them in one transaction, or none. An endpoint made while it runs may
// survive; one deleted meanwhile makes it start again.
func (s *WebhookService) DeleteAll(ctx context.Context, t Tenant, actor string) (int, error) {
	for attempt := 0; ; attempt++ {
		all, err := s.store.Webhooks(ctx, t)
		if err != nil || len(all) == 0 {
			return 0, err
		}
		ids, evs := make([]string, len(all)), make([]*AuditEntry, len(all))
		for i, w := range all {
			ids[i], evs[i] = w.ID, webhookAudit(w, AuditWebhookDelete, actor, s.now(), nil)
		}
		err = s.store.DeleteWebhooks(ctx, t, ids, evs)
		if ErrorCode(err) == ENOTFOUND && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(ids), nil
	}
}

// EditGroup sets the group of each endpoint of ids ("" removes it) and
// returns them as stored. Every id is checked before anything is written,
// so an unknown id changes nothing.
func (s *WebhookService) EditGroup(ctx context.Context, t Tenant, actor string, ids []string, group string, key *SigningKey) ([]*Webhook, error) {
	if len(ids) == 0 {
		return nil, FieldError("webhookIds", "webhookIds is required")
	}
	if len(ids) > MaxWebhooksPerTenant {
		return nil, FieldError("webhookIds", "webhookIds lists %d ids; at most %d are allowed", len(ids), MaxWebhooksPerTenant)
	}
	if err := validateText("group", group, MaxWebhookGroupBytes, false); err != nil {
		return nil, err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for i, id := range ids {
		if _, err := s.Get(ctx, t, id); err != nil {
			if e, ok := err.(*Error); ok {
				e.Field = fmt.Sprintf("webhookIds[%d]", i)
			}
			return nil, err
		}
	}
	if key != nil {
		if err := s.checkSigningKey(ctx, t, key); err != nil {
			return nil, err
		}
	}
	// One transaction: every endpoint gets the group, or none does.
	patch := s.patch(t, actor, WebhookInput{Group: &group, SigningKey: key})
	return s.store.PutWebhooks(ctx, t, ids, func(cur *Webhook) (*Webhook, *AuditEntry, error) {
		next, ev, err := patch(cur)
		if err == nil && ev == nil {
			return nil, nil, nil // unchanged: left as it is
		}
		return next, ev, err
	})
}

// Subscribe adds events to the tenant's oldest endpoint (the deprecated
// single-endpoint API of the compatible service). With no endpoint it makes
// one, which needs url; the secret it returns is then the new endpoint's,
// shown this once, and "" otherwise.
func (s *WebhookService) Subscribe(ctx context.Context, t Tenant, actor string, events []string, url string, key *SigningKey) (*Webhook, string, error) {
	all, err := s.store.Webhooks(ctx, t)
	if err != nil {
		return nil, "", err
	}
	if len(all) == 0 {
		if url == "" {
			return nil, "", FieldError("webhook_url", "webhook_url is required: this environment has no webhook yet, and subscribing makes one")
		}
		return s.Create(ctx, t, actor, WebhookInput{URL: &url, Events: &events, SigningKey: key})
	}
	in := WebhookInput{SigningKey: key}
	if url != "" {
		in.URL = &url
	}
	merged := slices.Clone(all[0].Events)
	for _, e := range events {
		if !slices.Contains(merged, e) {
			merged = append(merged, e)
		}
	}
	in.Events = &merged
	w, err := s.Update(ctx, t, actor, all[0].ID, in)
	return w, "", err
}

// Unsubscribe removes event from the tenant's oldest endpoint. Removing
// an event it does not receive changes nothing; removing its only event is
// refused, since an endpoint receives at least one (delete it instead).
func (s *WebhookService) Unsubscribe(ctx context.Context, t Tenant, actor, event string) (*Webhook, error) {
	all, err := s.store.Webhooks(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, Errorf(ENOTFOUND, "this environment has no webhook to unsubscribe from")
	}
	w := all[0]
	if !slices.Contains(w.Events, event) {
		return w, nil
	}
	rest := slices.DeleteFunc(slices.Clone(w.Events), func(e string) bool { return e == event })
	if len(rest) == 0 {
		return nil, FieldError("webhook_event", "%s is the webhook's only event; delete the webhook (DELETE /api/v2/public/webhook/%s) instead", EventKebab(event), w.ID)
	}
	return s.Update(ctx, t, actor, w.ID, WebhookInput{Events: &rest})
}

// apply sets the fields of in on w, checking each and then the whole, and
// returns the names of the fields that changed.
func (s *WebhookService) apply(w *Webhook, in WebhookInput) ([]string, error) {
	var fields []string
	changed := func(name string, ok bool) {
		if ok {
			fields = append(fields, name)
		}
	}
	if in.URL != nil {
		u, err := ValidateWebhookURL(*in.URL)
		if err != nil {
			return nil, err
		}
		changed("webhook_url", u != w.URL)
		w.URL = u
	}
	if in.Events != nil {
		ev, err := validateWebhookEvents(*in.Events)
		if err != nil {
			return nil, err
		}
		changed("webhook_events", !slices.Equal(ev, w.Events))
		w.Events = ev
	}
	if in.Enabled != nil {
		changed("is_enabled", *in.Enabled != w.Enabled)
		w.Enabled = *in.Enabled
		if w.Enabled {
			w.DisabledReason = ""
		}
	}
	if in.Type != nil {
		typ := *in.Type
		if typ == "" {
			typ = WebhookTypeDefault
		}
		if typ != WebhookTypeDefault && typ != WebhookTypeCustom {
			return nil, FieldError("webhook_type", "webhook_type must be %q or %q, not %q", WebhookTypeDefault, WebhookTypeCustom, typ)
		}
		changed("webhook_type", typ != w.Type)
		w.Type = typ
	}
	if in.Method != nil {
		m := strings.ToUpper(*in.Method)
		if m == "" {
			m = "POST"
		}
		if m != "POST" && m != "PUT" {
			return nil, FieldError("method", "method must be POST or PUT, not %q", *in.Method)
		}
		changed("method", m != w.Method)
		w.Method = m
	}
	if in.Headers != nil {
		h, err := validateWebhookHeaders(*in.Headers)
		if err != nil {
			return nil, err
		}
		changed("webhook_headers", !maps.Equal(h, w.Headers))
		w.Headers = h
	}
	if in.Body != nil {
		b := *in.Body
		if b == "" {
			b = DefaultWebhookBody
		}
		changed("webhook_body", b != w.Body)
		w.Body = b
	}
	// A default endpoint sends the event: a body of its own only makes
	// sense for custom ones. Switching back to default drops the body.
	if w.Type == WebhookTypeDefault {
		if in.Body != nil && w.Body != DefaultWebhookBody {
			return nil, FieldError("webhook_body", "webhook_body is only for webhook_type \"custom\"; a default webhook sends the event as it is")
		}
		if w.Body != DefaultWebhookBody {
			changed("webhook_body", true)
			w.Body = DefaultWebhookBody
		}
	} else if in.Body != nil || in.Type != nil {
		if err := ValidateWebhookBody(w.Body); err != nil {
			return nil, err
		}
	}
	if in.Slug != nil {
		slug := *in.Slug
		if slug != "" {
			if err := validateText("slug", slug, MaxWebhookGroupBytes, true); err != nil {
				return nil, err
			}
			if s.Catalog != nil {
				if _, ok := s.Catalog.App(slug); !ok {
					return nil, &Error{Code: EINVALID, Field: "slug", Type: "INVALID_APP_ID", Message: fmt.Sprintf("Application with slug %s not found", slug)}
				}
			}
		}
		changed("slug", slug != w.Slug)
		w.Slug = slug
	}
	if in.WorkflowIDs != nil {
		ids := *in.WorkflowIDs
		if len(ids) > MaxWebhookWorkflowIDs {
			return nil, FieldError("workflow_ids", "workflow_ids lists %d ids; at most %d are allowed", len(ids), MaxWebhookWorkflowIDs)
		}
		out := make([]string, 0, len(ids))
		for i, id := range ids {
			f := fmt.Sprintf("workflow_ids[%d]", i)
			if id == "" {
				return nil, FieldError(f, "%s is empty", f)
			}
			if err := validateText(f, id, MaxWebhookWorkflowID, true); err != nil {
				return nil, err
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
		changed("workflow_ids", !slices.Equal(out, w.WorkflowIDs))
		w.WorkflowIDs = out
	}
	if in.Description != nil {
		if err := validateText("description", *in.Description, MaxWebhookDescription, false); err != nil {
			return nil, err
		}
		changed("description", *in.Description != w.Description)
		w.Description = *in.Description
	}
	if in.Group != nil {
		if err := validateText("group", *in.Group, MaxWebhookGroupBytes, false); err != nil {
			return nil, err
		}
		changed("group", *in.Group != w.Group)
		w.Group = *in.Group
	}
	return fields, nil
}

// ValidateWebhookURL checks where an endpoint sends: an absolute http(s)
// URL, https unless the host is loopback (a receiver on the operator's own
// machine), without credentials in it (they would show wherever the URL
// does; use webhook_headers). Private addresses are refused when sending,
// by the SSRF guard, since a name may resolve anywhere later. It returns
// the URL as it will be called.
func ValidateWebhookURL(raw string) (string, error) {
	const f = "webhook_url"
	if raw == "" {
		return "", FieldError(f, "webhook_url is required")
	}
	if len(raw) > MaxWebhookURLBytes {
		return "", FieldError(f, "webhook_url is %d bytes long; at most %d are allowed", len(raw), MaxWebhookURLBytes)
	}
	if err := validateText(f, raw, MaxWebhookURLBytes, true); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", FieldError(f, "webhook_url must be an absolute URL such as https://example.com/hooks/linkd")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "", FieldError(f, "webhook_url must use https (http only reaches a receiver on loopback)")
		}
	default:
		return "", FieldError(f, "webhook_url must be an http(s) URL, not %s:", u.Scheme)
	}
	if u.User != nil {
		return "", FieldError(f, "webhook_url must not hold credentials; send them in webhook_headers instead")
	}
	if u.Hostname() == "" {
		return "", FieldError(f, "webhook_url has no host")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "", FieldError(f, "webhook_url has a bad port %q", p)
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", FieldError(f, "webhook_url must not have a #fragment: it is never sent")
	}
	return raw, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateWebhookEvents checks a subscription: at least one event, each
// known (the compatible API's INVALID_EVENT names the one at fault);
// duplicates collapse, order is kept.
func validateWebhookEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, &Error{Code: EINVALID, Field: webhookEventsFieldName, Type: "INVALID_EVENT",
			Message: "webhook_events must list at least one of " + strings.Join(WebhookEvents, ", ")}
	}
	out := make([]string, 0, len(events))
	for i, e := range events {
		if !KnownEvent(e) {
			return nil, InvalidEvent(fmt.Sprintf("webhook_events[%d]", i), e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// InvalidEvent is the compatible API's INVALID_EVENT error for name, given
// in field.
func InvalidEvent(field, name string) error {
	if len(name) > 100 {
		name = name[:100] + "…"
	}
	return &Error{Code: EINVALID, Field: field, Type: "INVALID_EVENT",
		Message: fmt.Sprintf("Invalid event %q; known events: %s", name, strings.Join(WebhookEvents, ", "))}
}

// reservedWebhookHeaders are set by linkd on every delivery (the Standard
// Webhooks and compatible signatures, the framing); a user's header must
// not replace or duplicate them.
var reservedWebhookHeaders = []string{"content-length", "host", "transfer-encoding", "connection", "keep-alive", "te",
	"trailer", "upgrade", "proxy-authorization", "proxy-connection", "x-cobalt-signature"}

// validateWebhookHeaders checks the headers an endpoint adds to each
// delivery: valid names and values, none that linkd sets itself.
func validateWebhookHeaders(h map[string]string) (map[string]string, error) {
	if len(h) > MaxWebhookHeaders {
		return nil, FieldError("webhook_headers", "webhook_headers has %d headers; at most %d are allowed", len(h), MaxWebhookHeaders)
	}
	out := make(map[string]string, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		v := h[name]
		f := "webhook_headers." + name
		if len(name) > maxWebhookHeaderName || !httpguts.ValidHeaderFieldName(name) {
			return nil, FieldError("webhook_headers", "%q is not a valid header name", truncate(name, 64))
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "webhook-") || slices.Contains(reservedWebhookHeaders, lower) {
			return nil, FieldError(f, "%s is set by linkd on every delivery and cannot be given", name)
		}
		if len(v) > MaxWebhookHeaderBytes {
			return nil, FieldError(f, "%s is %d bytes long; at most %d are allowed", f, len(v), MaxWebhookHeaderBytes)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, FieldError(f, "%s holds a character a header value cannot", f)
		}
		for k := range out {
			if strings.EqualFold(k, name) {
				return nil, FieldError(f, "%s is given twice (header names ignore case)", name)
			}
		}
		out[name] = v
	}
	return out, nil
}

// webhookBodyRoots are what a custom body's placeholders may read: the
// event, the workflow's response and the linked account's name.
var webhookBodyRoots = []string{"event", "workflow_response", "linked_account_name"}

// ValidateWebhookBody checks a custom endpoint's body when it is saved: a
// JSON document whose strings are templates (package tmpl), or, if it is
// not JSON, one template of text. Placeholders are paths, nothing else, and
// only under event, workflow_response, or linked_account_name itself.
func ValidateWebhookBody(body string) error {
	const f = "webhook_body"
	if len(body) > tmpl.MaxLen {
		return FieldError(f, "webhook_body is %d bytes long; at most %d are allowed", len(body), tmpl.MaxLen)
	}
	var tree any
	if json.Valid([]byte(body)) {
		if err := json.Unmarshal([]byte(body), &tree); err != nil {
			return FieldError(f, "webhook_body: %v", err)
		}
		return checkBodyTree(tree, "")
	}
	return checkBodyTemplate(body, "")
}

func checkBodyTree(node any, at string) error {
	switch n := node.(type) {
	case string:
		return checkBodyTemplate(n, at)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(n)) {
			if err := checkBodyTree(n[k], at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, v := range n {
			if err := checkBodyTree(v, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkBodyTemplate(s, at string) error {
	const f = "webhook_body"
	where := ""
	if at != "" {
		where = " at " + strings.TrimPrefix(at, ".")
	}
	t, err := tmpl.Parse(s)
	if err != nil {
		return FieldError(f, "webhook_body%s: %v", where, strings.TrimPrefix(err.Error(), "tmpl: "))
	}
	for _, p := range t.Paths() {
		root, _, _ := strings.Cut(p, ".")
		if !slices.Contains(webhookBodyRoots, root) || root == "linked_account_name" && p != root {
			return FieldError(f, "webhook_body%s: {{%s}} reads nothing a delivery has; use event.<key>, workflow_response[.<key>] or linked_account_name", where, p)
		}
	}
	return nil
}

func webhookAudit(w *Webhook, action, actor string, now time.Time, fields []string) *AuditEntry {
	return &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: action, Fields: fields,
		Details: map[string]any{"webhook_id": w.ID}}
}

func cloneWebhook(w *Webhook) *Webhook {
	c := *w
	c.Events = slices.Clone(w.Events)
	c.WorkflowIDs = slices.Clone(w.WorkflowIDs)
	c.Headers = maps.Clone(w.Headers)
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	return &c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
