package linkd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/linkd-dev/linkd/tmpl"
)

// AppConfig is a linked account's installation of one app: the values of the
// app's config fields and which of its workflows are switched on, with
// their own field values. An account may hold several configs per app, told
// apart by ConfigID (by default the account's own id, as in the compatible
// API).
type AppConfig struct {
	ID        string // internal id, "_id" on the wire
	AccountPK string
	Slug      string
	ConfigID  string
	// Fields holds the values of the app's config fields by field id, as the
	// caller sent them (JSON). Settings, not secrets: stored as they are.
	Fields    map[string]json.RawMessage
	Workflows []WorkflowState // sorted by ID; only workflows ever set
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WorkflowState is one workflow's state within a config.
type WorkflowState struct {
	ID        string                     `json:"id"`
	Enabled   bool                       `json:"enabled"`
	Fields    map[string]json.RawMessage `json:"fields,omitempty"`
	CreatedAt time.Time                  `json:"created_at"`
	UpdatedAt time.Time                  `json:"updated_at"`
}

// Workflow returns the state of workflow id, or nil when it was never set.
func (c *AppConfig) Workflow(id string) *WorkflowState {
	for i := range c.Workflows {
		if c.Workflows[i].ID == id {
			return &c.Workflows[i]
		}
	}
	return nil
}

// EnabledWorkflows counts the config's switched-on workflows.
func (c *AppConfig) EnabledWorkflows() int {
	n := 0
	for _, w := range c.Workflows {
		if w.Enabled {
			n++
		}
	}
	return n
}

// ConfigFunc receives, inside the store's transaction, the account, whether
// it has a connection to the app, and the current config (nil when there is
// none); it returns the config to write (nil: leave it as it is) and the
// audit entry.
type ConfigFunc func(acct *LinkedAccount, connected bool, cur *AppConfig) (next *AppConfig, ev *AuditEntry, err error)

// ConfigStore keeps configs. Each write also refreshes the account's
// ActiveWorkflows count in the same transaction. Removing an account's last
// connection to an app removes its configs of that app (ConnectionStore), and
// deleting the account removes all of them (AccountStore).
type ConfigStore interface {
	// Configs returns the account and its configs of slug (every app when
	// slug is ""), sorted by slug then config id; ENOTFOUND when the tenant
	// has no such account.
	Configs(ctx context.Context, t Tenant, accountID, slug string) (*LinkedAccount, []*AppConfig, error)
	// PutConfig reads the account's config (slug, configID), calls fn and
	// writes its result and audit entry in one transaction. created tells
	// whether the config is new. ENOTFOUND when the account does not exist.
	PutConfig(ctx context.Context, t Tenant, accountID, slug, configID string, fn ConfigFunc) (cfg *AppConfig, created bool, err error)
	// DeleteConfig removes one config and writes ev; ENOTFOUND when the
	// account or the config does not exist.
	DeleteConfig(ctx context.Context, t Tenant, accountID, slug, configID string, ev *AuditEntry) error
}

// MaxConfigBytes bounds the JSON of one config's field values, so one
// account cannot grow a row without limit.
const MaxConfigBytes = 64 << 10

// EncodeConfig returns the JSON the stores keep of c's fields and workflows
// (empty object and array rather than null).
func EncodeConfig(c *AppConfig) (fields, workflows []byte, err error) {
	if c.Fields == nil {
		c.Fields = map[string]json.RawMessage{}
	}
	if c.Workflows == nil {
		c.Workflows = []WorkflowState{}
	}
	if fields, err = json.Marshal(c.Fields); err != nil {
		return nil, nil, fmt.Errorf("encode config: %w", err)
	}
	if workflows, err = json.Marshal(c.Workflows); err != nil {
		return nil, nil, fmt.Errorf("encode config: %w", err)
	}
	return fields, workflows, nil
}

// ValidateConfigID checks a config id: printable text like an account id.
func ValidateConfigID(id string) error {
	if id == "" {
		return FieldError("config_id", "config_id must not be empty")
	}
	if err := validateText("config_id", id, MaxAccountIDBytes, true); err != nil {
		return err
	}
	return nil
}

// ValidateConfigValue checks the value v given for the config field f,
// reported as field: its JSON type must suit the field type, and a select's
// value must be one of its options. null is left to the caller (it clears).
func ValidateConfigValue(field string, f *ConfigField, v json.RawMessage) error {
	kind := jsonKind(v)
	if kind == 0 {
		return FieldError(field, "%s is not valid JSON", field)
	}
	// PostgreSQL cannot keep a NUL character in jsonb.
	if bytes.Contains(bytes.ToLower(v), []byte(`\u0000`)) {
		return FieldError(field, "%s must not contain the NUL character", field)
	}
	want := func(k byte, what string) error {
		if kind != k {
			return FieldError(field, "%s must be %s (field type %s)", field, what, f.FieldType)
		}
		return nil
	}
	switch f.FieldType {
	case "number":
		return want('0', "a number")
	case "boolean":
		return want('t', "true or false")
	case "map", "map_v2":
		return want('{', "an object")
	case "json", "rule_engine":
		return nil
	case "select":
		if kind == '[' {
			var vs []string
			if err := json.Unmarshal(v, &vs); err != nil {
				return FieldError(field, "%s must be a string or an array of strings", field)
			}
			for _, s := range vs {
				if !OptionAllowed(f.Options, s) {
					return FieldError(field, "%s: %q is not one of the field's options", field, s)
				}
			}
			return nil
		}
		if err := want('"', "a string"); err != nil {
			return err
		}
		var s string
		json.Unmarshal(v, &s)
		if !OptionAllowed(f.Options, s) {
			return FieldError(field, "%s: %q is not one of the field's options", field, s)
		}
		return nil
	default: // text, textarea, date, url, email
		if err := want('"', "a string"); err != nil {
			return err
		}
		var s string
		json.Unmarshal(v, &s)
		if verr := validateText(field, s, MaxUDFValueBytes, false); verr != nil {
			return verr
		}
		if f.Template {
			if err := checkUserTemplate(field, s); err != nil {
				return err
			}
		}
		switch f.FieldType {
		case "url":
			if u, err := url.Parse(s); s != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return FieldError(field, "%s must be an http(s) URL", field)
			}
		case "email":
			if _, err := mail.ParseAddress(s); s != "" && err != nil {
				return FieldError(field, "%s must be an e-mail address", field)
			}
		}
		return nil
	}
}

// OptionAllowed reports whether v is one of a select field's options (any
// value when the field lists none: its options come from the provider). The
// catalog gives every select field options; auth inputs and config fields
// check their values with this one rule.
func OptionAllowed(opts []FieldOption, v string) bool {
	if len(opts) == 0 {
		return true
	}
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

// checkUserTemplate checks a template a user typed (a message template):
// it may read the event's values by path, nothing else.
func checkUserTemplate(field, s string) error {
	t, err := tmpl.Parse(s)
	if err != nil {
		return FieldError(field, "%s is not a valid template: %v", field, err)
	}
	for _, p := range t.Paths() {
		if !strings.HasPrefix(p, "event.") {
			return FieldError(field, "%s: {{%s}} reads nothing a run has; use {{event.<key>}}", field, p)
		}
	}
	return nil
}
