package linkd

import (
	"context"
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
}

// OAuthSpec is how to run the OAuth 2.0 authorization code flow with an app.
type OAuthSpec struct {
	AuthorizeURL string `yaml:"authorize_url"`
	TokenURL     string `yaml:"token_url"`
	// RevocationURL is the RFC 7009 endpoint; empty when the provider has
	// none (then disconnecting only forgets the tokens).
	RevocationURL string `yaml:"revocation_url,omitempty"`
	// Revocation says how to call RevocationURL when the provider does not
	// follow RFC 7009; nil means RFC 7009 (a form POST with "token").
	Revocation *RevocationSpec `yaml:"revocation,omitempty"`
	Scopes     []string        `yaml:"scopes,omitempty"`
	// ScopeSeparator joins scopes in the authorize URL (" " by default;
	// some providers want ",").
	ScopeSeparator string `yaml:"scope_separator,omitempty"`
	PKCE           bool   `yaml:"pkce"`
	// ExtraParams are added to the authorize URL (e.g. access_type=offline
	// for Google, to get a refresh token). Callers cannot change them.
	ExtraParams map[string]string `yaml:"extra_params,omitempty"`
	// AllowedParams are the authorize parameters a caller may add per
	// connection (login_hint, say), besides the names of the app's
	// auth_inputs. Nothing else is accepted: a parameter can change what
	// the customer consents to (prompt=none, a wider resource), so each
	// app opts in to the ones its provider documents.
	AllowedParams []string `yaml:"allowed_params,omitempty"`
	// AuthStyle says how the client authenticates at the token endpoint:
	// "header" (HTTP Basic), "params" (in the form), or "" to detect.
	AuthStyle string `yaml:"auth_style,omitempty"`
	// Metadata names string fields of the token response that describe
	// the customer's side of the connection (Salesforce's instance_url):
	// they are kept with the connection, so the proxy's base_url can use
	// them, and a refresh that returns them again updates them.
	Metadata []string `yaml:"metadata,omitempty"`
}

// RevocationSpec describes a provider's own token revocation call (Notion
// takes JSON; GitHub wants DELETE on a URL naming the client id).
type RevocationSpec struct {
	// Method is POST (the default) or DELETE.
	Method string `yaml:"method,omitempty"`
	// Format of the body: "form" (the default) or "json".
	Format string `yaml:"format,omitempty"`
	// TokenField names the token in the body ("token" by default).
	TokenField string `yaml:"token_field,omitempty"`
	// Auth is how the client authenticates: "header" (HTTP Basic) or
	// "params" (in the body); empty means as at the token endpoint.
	Auth string `yaml:"auth,omitempty"`
}

// AuthorizeParams returns the authorize parameters a caller may pass when
// connecting app per connection: its oauth2.allowed_params and the names of
// its auth_inputs (values the flow needs, a subdomain say). Empty for an
// app that is not OAuth 2.0.
func (a *App) AuthorizeParams() []string {
	if a.OAuth == nil {
		return nil
	}
	out := append([]string(nil), a.OAuth.AllowedParams...)
	for _, f := range a.AuthInputs {
		out = append(out, f.Name)
	}
	return out
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
}

// Workflow is an automation an app offers; a linked account switches it on
// in its config for the app.
type Workflow struct {
	ID          string        `yaml:"id" json:"id"`
	Name        string        `yaml:"name" json:"name"`
	Description string        `yaml:"description" json:"description"`
	Fields      []ConfigField `yaml:"fields,omitempty" json:"fields,omitempty"`
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
