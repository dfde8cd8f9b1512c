package linkd

import (
	"context"
	"fmt"
	"time"
)

// Authentication types of applications.
const (
	AuthOAuth2   = "oauth2"
	AuthKeyBased = "keybased"
)

// App is an integration a linked account can connect: a third-party
// application from the catalog (catalog.yaml, or the file LINKD_APPS names).
type App struct {
	Slug        string     `yaml:"slug" json:"slug"`
	Name        string     `yaml:"name" json:"name"`
	Description string     `yaml:"description" json:"description"`
	IconURL     string     `yaml:"icon" json:"icon"`
	Tags        []string   `yaml:"tags" json:"tags"`
	AuthType    string     `yaml:"auth_type" json:"auth_type"`
	OAuth       *OAuthSpec `yaml:"oauth2,omitempty" json:"-"`
	// AuthInputs are the fields a key-based app asks for (an API key, a
	// subdomain…). Their values are secrets: sealed, never returned.
	AuthInputs   []InputField  `yaml:"auth_inputs,omitempty" json:"auth_input_map"`
	ConfigFields []ConfigField `yaml:"config_fields,omitempty" json:"config_fields,omitempty"`
	Workflows    []Workflow    `yaml:"workflows,omitempty" json:"workflows,omitempty"`
	// EnabledByDefault makes the app available in the test environment of a
	// fresh install (key-based apps need no client credentials).
	EnabledByDefault bool `yaml:"enabled_by_default,omitempty" json:"-"`
	// Proxy says how linkd calls the app's API as a linked account; nil
	// when the catalog does not say (the proxy then refuses the app).
	Proxy *ProxySpec `yaml:"proxy,omitempty" json:"-"`
}

// InputField is one field of a form shown to the end customer.
type InputField struct {
	Name        string        `yaml:"name" json:"name"`
	Label       string        `yaml:"label" json:"label"`
	Type        string        `yaml:"type" json:"type"` // text, number, boolean, select, password
	Required    bool          `yaml:"required" json:"required"`
	Placeholder string        `yaml:"placeholder,omitempty" json:"placeholder,omitempty"`
	HelpText    string        `yaml:"help_text,omitempty" json:"help_text,omitempty"`
	Options     []FieldOption `yaml:"options,omitempty" json:"options,omitempty"`
}

// FieldOption is one choice of a select field.
type FieldOption struct {
	Name  string `yaml:"name" json:"name"`
	Value string `yaml:"value" json:"value"`
}

// ConfigField is a setting an installed app or workflow asks for.
type ConfigField struct {
	ID        string        `yaml:"id" json:"id"`
	Name      string        `yaml:"name" json:"name"`
	FieldType string        `yaml:"field_type" json:"field_type"` // text, number, select, …
	Required  bool          `yaml:"required" json:"required"`
	Options   []FieldOption `yaml:"options,omitempty" json:"options,omitempty"`
	HelpText  string        `yaml:"help_text,omitempty" json:"help_text,omitempty"`
	// Template marks a text field whose value is a template a workflow
	// fills from the event ({{event.order.id}}): plain path lookups under
	// event only, checked when the value is saved.
	Template bool `yaml:"template,omitempty" json:"-"`
}

// Workflow is an automation an app offers; a linked account switches it on
// in its config for the app.
type Workflow struct {
	ID          string        `yaml:"id" json:"id"`
	Name        string        `yaml:"name" json:"name"`
	Description string        `yaml:"description" json:"description"`
	Fields      []ConfigField `yaml:"fields,omitempty" json:"fields,omitempty"`
	// Trigger says what starts a run and Steps what a run does
	// (workflowspec.go); Timeout bounds a whole run ("15m" when empty).
	Trigger *WorkflowTrigger `yaml:"trigger,omitempty" json:"-"`
	Steps   []*WorkflowStep  `yaml:"steps,omitempty" json:"-"`
	Timeout string           `yaml:"timeout,omitempty" json:"-"`
	// RunTimeout is Timeout parsed when the catalog loads.
	RunTimeout time.Duration `yaml:"-" json:"-"`
}

// AppNotFound is the error of an app the tenant cannot use: unknown, or
// not available to it (the two look the same to a caller).
func AppNotFound(slug string) error {
	return &Error{Code: ENOTFOUND, Field: "slug", Type: "INVALID_APP_ID", Message: fmt.Sprintf("Application with slug %s not found", slug)}
}

// Catalog is the set of apps this server knows, by slug.
type Catalog interface {
	App(slug string) (*App, bool)
	Apps() []*App // sorted by name
}

// AppSettings is a tenant's setup of one app: whether its linked accounts
// may connect it and, for OAuth apps, the tenant's own client credentials.
type AppSettings struct {
	Slug     string
	Enabled  bool
	ClientID string
	// ClientSecret is sealed with DataKey (owner AppSettingsOwner); never
	// returned.
	ClientSecret []byte
	DataKey      []byte
	UpdatedAt    time.Time
}

// AppSettingsOwner names the owner of an app's settings' data key.
func AppSettingsOwner(t Tenant, slug string) string {
	return "app-settings/" + t.OrgID + "/" + string(t.Env) + "/" + slug
}

// AppSettingsStore keeps app settings per tenant.
type AppSettingsStore interface {
	// AppSettings returns the tenant's settings of every app it configured.
	AppSettings(ctx context.Context, t Tenant) (map[string]*AppSettings, error)
	// PutAppSettings creates or replaces the tenant's settings of one app.
	PutAppSettings(ctx context.Context, t Tenant, s *AppSettings, ev *AuditEntry) error
}
