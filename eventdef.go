package linkd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// EventDef is an event the product may fire for a linked account (an
// "Order Created"), with a sample of its payload. Workflows whose trigger
// names the event run when it is fired; firing an undefined event is a 404,
// as in the compatible API.
type EventDef struct {
	ID   string
	Name string
	// Response is a sample payload (JSON); JSONSchema an optional schema.
	Response   json.RawMessage
	JSONSchema json.RawMessage
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Limits of event definitions.
const (
	MaxEventNameBytes = 128
	MaxEventDefBytes  = 64 << 10
	MaxEventDefs      = 1000
)

// ValidateEventName checks an event's name: printable text, 1-128 bytes.
func ValidateEventName(name string) error {
	if strings.TrimSpace(name) == "" {
		return FieldError("event", "event is required")
	}
	if len(name) > MaxEventNameBytes || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return FieldError("event", "event must be printable text of at most %d bytes", MaxEventNameBytes)
	}
	return nil
}

// Validate checks a definition's name and that its sample and schema are
// JSON objects of bounded size.
func (d *EventDef) Validate() error {
	if err := ValidateEventName(d.Name); err != nil {
		return &Error{Code: EINVALID, Field: "name", Message: strings.Replace(err.Error(), "event", "name", 1)}
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"response", d.Response}, {"json_schema", d.JSONSchema}} {
		if len(f.v) == 0 {
			continue
		}
		if len(f.v) > MaxEventDefBytes {
			return FieldError(f.name, "%s is larger than %d bytes", f.name, MaxEventDefBytes)
		}
		if jsonKind(f.v) != '{' {
			return FieldError(f.name, "%s must be a JSON object", f.name)
		}
		if bytes.Contains(bytes.ToLower(f.v), []byte(`\u0000`)) {
			return FieldError(f.name, "%s must not contain the NUL character", f.name)
		}
	}
	return nil
}

// EventKey is one key of a sample payload as the compatible API lists it:
// nested keys dotted, type "object" for objects and "text" otherwise.
type EventKey struct {
	Key  string `json:"key"`
	Type string `json:"type"`
}

// Keys lists the sample's keys, sorted.
func (d *EventDef) Keys() []EventKey {
	var m map[string]any
	if json.Unmarshal(d.Response, &m) != nil {
		return []EventKey{}
	}
	out := []EventKey{}
	var walk func(prefix string, m map[string]any, depth int)
	walk = func(prefix string, m map[string]any, depth int) {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok && depth < 8 {
				out = append(out, EventKey{key, "object"})
				walk(key+".", sub, depth+1)
				continue
			}
			out = append(out, EventKey{key, "text"})
		}
	}
	walk("", m, 0)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// EventNotFound is the compatible API's error of firing an unknown event.
func EventNotFound(name string) error {
	return &Error{Code: ENOTFOUND, Field: "event", Type: "INVALID_EVENT", Message: "Trigger not found"}
}

// EventDefNotFound is the error of an unknown definition id.
func EventDefNotFound(id string) error {
	return &Error{Code: ENOTFOUND, Field: "event_id", Type: "INVALID_EVENT", Message: fmt.Sprintf("Event with id %s not found", id)}
}

// EventDefStore keeps a tenant's event definitions.
type EventDefStore interface {
	// EventDefs lists the tenant's definitions by name.
	EventDefs(ctx context.Context, t Tenant) ([]*EventDef, error)
	// EventDef returns one by id, or by name when byName; ENOTFOUND.
	EventDef(ctx context.Context, t Tenant, key string, byName bool) (*EventDef, error)
	// PutEventDef inserts d (create) or replaces the one with d.ID, and
	// writes ev; EEXISTS when another definition has the name, ENOTFOUND
	// when an update finds none, EINVALID past MaxEventDefs.
	PutEventDef(ctx context.Context, t Tenant, d *EventDef, create bool, ev *AuditEntry) error
	// DeleteEventDef removes one and writes ev; ENOTFOUND.
	DeleteEventDef(ctx context.Context, t Tenant, id string, ev *AuditEntry) error
}

// EventDefExists is the error of a name taken by another definition.
func EventDefExists(name string) error {
	return &Error{Code: EEXISTS, Field: "name", Message: fmt.Sprintf("Event with name %s already exists", name)}
}
