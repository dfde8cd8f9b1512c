package linkd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Webhook events: the compatible API's (Connection …, Workflow …) and the
// ones users of a linked-accounts service need that it lacks (Linked
// Account …, Import Completed).
const (
	EventConnectionCreated = "Connection Created"
	EventConnectionDeleted = "Connection Deleted"
	EventConnectionExpired = "Connection Expired"
	EventWorkflowCompleted = "Workflow Completed"
	EventWorkflowErrored   = "Workflow Errored"
	EventWorkflowStopped   = "Workflow Stopped"
	EventWorkflowTimedOut  = "Workflow Timed Out"
	EventAccountCreated    = "Linked Account Created"
	EventAccountUpdated    = "Linked Account Updated"
	EventAccountDeleted    = "Linked Account Deleted"
	EventImportCompleted   = "Import Completed"
)

// WebhookEvents are every event an endpoint may subscribe to.
var WebhookEvents = []string{
	EventConnectionCreated, EventConnectionDeleted, EventConnectionExpired,
	EventWorkflowCompleted, EventWorkflowErrored, EventWorkflowStopped, EventWorkflowTimedOut,
	EventAccountCreated, EventAccountUpdated, EventAccountDeleted, EventImportCompleted,
}

// EventKebab is an event's name as the deprecated subscribe routes write
// it: "Connection Created" is "connection-created".
func EventKebab(event string) string { return strings.ToLower(strings.ReplaceAll(event, " ", "-")) }

// EventFromKebab is EventKebab's inverse; false for no known event.
func EventFromKebab(kebab string) (string, bool) {
	for _, e := range WebhookEvents {
		if EventKebab(e) == kebab {
			return e, true
		}
	}
	return "", false
}

// KnownEvent reports whether name is one of WebhookEvents.
func KnownEvent(name string) bool { return slices.Contains(WebhookEvents, name) }

// Event is one thing that happened in a tenant, to be delivered to each of
// its endpoints subscribed to the event's type. It rides on the audit entry
// of the change that caused it (AuditEntry.Events), so the stores write it,
// and one delivery per matching endpoint, in the same transaction as the
// change: a committed change is always announced, a rolled-back one never.
type Event struct {
	// ID is the webhook-id receivers see ("msg_" and a time-ordered id),
	// the same on every attempt.
	ID   string
	Type string
	// AccountID, Slug and WorkflowID say what the event is about; an
	// endpoint's slug and workflow_ids filters match them.
	AccountID  string
	Slug       string
	WorkflowID string
	// Payload is the JSON body of a default delivery. It holds ids, never
	// names, UDFs or secrets.
	Payload   json.RawMessage
	CreatedAt time.Time
}

// NewEventID returns a new event id.
func NewEventID() string { return "msg_" + strings.ReplaceAll(NewID(), "-", "") }

// Webhook is an endpoint of a tenant that receives its events.
type Webhook struct {
	ID      string
	Enabled bool
	// Events are the event types it receives (WebhookEvents).
	Events []string
	URL    string
	// Type is "default" (the event's payload as the body) or "custom"
	// (Body, a template over the event).
	Type    string
	Method  string
	Headers map[string]string
	Body    string
	// Slug and WorkflowIDs narrow the events it receives: only those of
	// this app, of these workflows (empty: all).
	Slug        string
	WorkflowIDs []string
	Description string
	Group       string
	// Secret is the endpoint's signing secret ("whsec_…"), sealed with
	// DataKey (owner WebhookOwner); shown once, when made or rotated.
	Secret  []byte
	DataKey []byte
	// PreviousSecret is the secret a rotation replaced, sealed with
	// DataKey under WebhookPreviousSecretField; until PreviousUntil it
	// signs each delivery beside Secret, so receivers can switch to the
	// new secret without rejecting deliveries meanwhile.
	PreviousSecret []byte
	PreviousUntil  time.Time
	// DisabledReason says why linkd disabled the endpoint (410, failing
	// for days); empty when the user did, or when it is enabled.
	DisabledReason string
	// SigningKeyID is the API key whose raw secret signs the compatible
	// x-cobalt-signature (compat_signing_key_id): the key that last saved
	// the endpoint. SigningKey is that secret, sealed with DataKey under
	// CompatKeyField(SigningKeyID), since linkd otherwise keeps only hashes
	// of keys. Revoking the key deletes SigningKey and sets
	// SigningKeyRevoked to why; the endpoint is then not signed that way
	// until a save with a live key binds one again.
	SigningKeyID      string
	SigningKey        []byte
	SigningKeyRevoked string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// CompatSigns reports whether deliveries to w carry x-cobalt-signature:
// it has a sealed key, and that key was not revoked.
func (w *Webhook) CompatSigns() bool {
	return w.SigningKeyID != "" && len(w.SigningKey) > 0 && w.SigningKeyRevoked == ""
}

// WebhookOwner names the owner of a webhook's data key.
func WebhookOwner(t Tenant, id string) string {
	return "webhook/" + t.OrgID + "/" + string(t.Env) + "/" + id
}

// Receives reports whether the endpoint gets ev: enabled, subscribed to its
// type, and matching its filters. The stores apply the same rule in SQL
// when they fan an event out; this is its definition.
func (w *Webhook) Receives(ev *Event) bool {
	if !w.Enabled || !slices.Contains(w.Events, ev.Type) {
		return false
	}
	if w.Slug != "" && w.Slug != ev.Slug {
		return false
	}
	return len(w.WorkflowIDs) == 0 || ev.WorkflowID == "" || slices.Contains(w.WorkflowIDs, ev.WorkflowID)
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed" // every attempt of the schedule failed
)

// Delivery is one event to one endpoint: made with the event, attempted
// until it succeeds or the retry schedule runs out.
type Delivery struct {
	Tenant    Tenant
	WebhookID string
	EventID   string
	// EventType is the event's type, where the store read it (the
	// delivery log); empty elsewhere.
	EventType string
	State     string
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookStore keeps endpoints, and the deliveries the stores make when an
// audit entry carries events.
type WebhookStore interface {
	// CreateWebhook stores w with its audit entry.
	CreateWebhook(ctx context.Context, t Tenant, w *Webhook, ev *AuditEntry) error
	// Webhooks lists the tenant's endpoints, oldest first.
	Webhooks(ctx context.Context, t Tenant) ([]*Webhook, error)
	// Webhook returns one endpoint; ENOTFOUND when the tenant has none.
	Webhook(ctx context.Context, t Tenant, id string) (*Webhook, error)
	// PutWebhook replaces an endpoint with what fn makes of it, with fn's
	// audit entry, in one transaction; ENOTFOUND when absent.
	PutWebhook(ctx context.Context, t Tenant, id string, fn func(cur *Webhook) (*Webhook, *AuditEntry, error)) (*Webhook, error)
	// PutWebhooks is PutWebhook for each endpoint of ids, all in one
	// transaction: when fn or a write fails, or an id is absent
	// (ENOTFOUND), none changes. fn answering a nil endpoint leaves that
	// one as it is. It returns the endpoints as stored, in ids' order.
	PutWebhooks(ctx context.Context, t Tenant, ids []string, fn func(cur *Webhook) (*Webhook, *AuditEntry, error)) ([]*Webhook, error)
	// DeleteWebhook deletes an endpoint and its deliveries, with ev.
	DeleteWebhook(ctx context.Context, t Tenant, id string, ev *AuditEntry) error
	// DeleteWebhooks deletes the endpoints of ids and their deliveries,
	// each with its entry of evs (same order), in one transaction: none
	// is deleted when one is absent (ENOTFOUND).
	DeleteWebhooks(ctx context.Context, t Tenant, ids []string, evs []*AuditEntry) error
	// Deliveries lists an endpoint's deliveries, newest first.
	Deliveries(ctx context.Context, t Tenant, webhookID string, limit int) ([]*Delivery, error)
	// WebhookEvent returns one kept event; ENOTFOUND when the tenant has
	// none with that id (events no endpoint received are not kept).
	WebhookEvent(ctx context.Context, t Tenant, id string) (*Event, error)
}

// WebhookSecretField names the signing secret among a webhook's sealed
// values, binding the ciphertext to the endpoint.
const WebhookSecretField = "secret"

// WebhookPreviousSecretField names the replaced signing secret, kept for
// the overlap a rotation asks for.
const WebhookPreviousSecretField = "previous-secret"

// MaxSecretOverlap bounds how long a replaced secret keeps signing.
const MaxSecretOverlap = 7 * 24 * time.Hour

// DefaultSecretOverlap is how long a replaced secret keeps signing when a
// rotation does not say (Svix's 24 hours).
const DefaultSecretOverlap = 24 * time.Hour

// NewWebhookSecret returns a fresh Standard Webhooks signing secret:
// "whsec_" and 32 random bytes in base64.
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// SealWebhookSecret seals secret into w (making w's data key when it has
// none), for tenant t.
func SealWebhookSecret(keys Keyring, t Tenant, w *Webhook, secret string) error {
	owner := WebhookOwner(t, w.ID)
	if w.DataKey == nil {
		k, err := keys.NewDataKey(owner)
		if err != nil {
			return err
		}
		w.DataKey = k
	}
	sealed, err := keys.Seal(w.DataKey, owner, WebhookSecretField, []byte(secret))
	if err != nil {
		return err
	}
	w.Secret = sealed
	return nil
}

// OpenWebhookSecret returns w's signing secret in clear.
func OpenWebhookSecret(keys Keyring, t Tenant, w *Webhook) (string, error) {
	b, err := keys.Open(w.DataKey, WebhookOwner(t, w.ID), WebhookSecretField, w.Secret)
	return string(b), err
}

// SigningSecrets returns the secrets that sign a delivery to w made at
// now: its secret, and the one a rotation replaced while its overlap
// lasts.
func SigningSecrets(keys Keyring, t Tenant, w *Webhook, now time.Time) ([]string, error) {
	cur, err := OpenWebhookSecret(keys, t, w)
	if err != nil {
		return nil, err
	}
	out := []string{cur}
	if len(w.PreviousSecret) > 0 && now.Before(w.PreviousUntil) {
		b, err := keys.Open(w.DataKey, WebhookOwner(t, w.ID), WebhookPreviousSecretField, w.PreviousSecret)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// CompatKeyField names the sealed API key among a webhook's sealed values,
// binding the ciphertext to the key id as well as to the endpoint (the
// owner): a copy cannot be passed off as another key's, nor another
// endpoint's.
func CompatKeyField(keyID string) string { return "compat-key/" + keyID }

// SealCompatKey seals the raw API key secret (of key keyID) into w as the
// key signing x-cobalt-signature, and clears a revoked mark. w must have
// a data key (every stored endpoint has: its secret is sealed with it).
func SealCompatKey(keys Keyring, t Tenant, w *Webhook, keyID, secret string) error {
	if w.DataKey == nil {
		return fmt.Errorf("webhook %s has no data key", w.ID)
	}
	sealed, err := keys.Seal(w.DataKey, WebhookOwner(t, w.ID), CompatKeyField(keyID), []byte(secret))
	if err != nil {
		return err
	}
	w.SigningKeyID, w.SigningKey, w.SigningKeyRevoked = keyID, sealed, ""
	return nil
}

// OpenCompatKey returns the raw API key that signs w's x-cobalt-signature;
// callers check w.CompatSigns first.
func OpenCompatKey(keys Keyring, t Tenant, w *Webhook) (string, error) {
	b, err := keys.Open(w.DataKey, WebhookOwner(t, w.ID), CompatKeyField(w.SigningKeyID), w.SigningKey)
	return string(b), err
}

// CompatKeyRevoked is the signing_key_revoked reason of an endpoint whose
// signing API key was revoked.
func CompatKeyRevoked(keyID string, at time.Time) string {
	return fmt.Sprintf("API key %s, which signed x-cobalt-signature, was revoked at %s; save the webhook with a live API key to sign again",
		keyID, at.UTC().Format(time.RFC3339))
}

// EncodeWebhookLists is how both stores keep a webhook's lists and headers:
// JSON, never null (an empty list matches no event, and SQL compares it).
func EncodeWebhookLists(w *Webhook) (events, headers, workflows string) {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	e, _ := json.Marshal(orEmpty(w.Events))
	h := []byte("{}")
	if w.Headers != nil {
		h, _ = json.Marshal(w.Headers)
	}
	f, _ := json.Marshal(orEmpty(w.WorkflowIDs))
	return string(e), string(h), string(f)
}

// DecodeWebhookLists reads what EncodeWebhookLists wrote into w.
func DecodeWebhookLists(w *Webhook, events, headers, workflows []byte) error {
	if err := errors.Join(json.Unmarshal(events, &w.Events), json.Unmarshal(headers, &w.Headers), json.Unmarshal(workflows, &w.WorkflowIDs)); err != nil {
		return fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	return nil
}
