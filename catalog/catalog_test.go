package catalog

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestShippedCatalog(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatalf("shipped catalog: %v", err)
	}
	want := []string{"airtable", "github", "google-sheets", "hubspot", "notion", "salesforce", "sendgrid", "slack", "stripe"}
	var got []string
	for _, a := range c.Apps() {
		got = append(got, a.Slug)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("slugs = %v, want %v", got, want)
	}

	apps := c.Apps()
	if !slices.IsSortedFunc(apps, func(a, b *linkd.App) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) }) {
		t.Errorf("Apps() not sorted by name")
	}
	for _, a := range apps {
		if got, ok := c.App(a.Slug); !ok || got != a {
			t.Errorf("App(%q) = %v, %v", a.Slug, got, ok)
		}
		if a.Description == "" || a.IconURL == "" || len(a.Tags) == 0 {
			t.Errorf("%s: description, icon and tags should all be set", a.Slug)
		}
		if n := len(a.Workflows); n < 1 || n > 3 {
			t.Errorf("%s: %d workflows, want 1-3", a.Slug, n)
		}
		// Only key-based apps work without tenant credentials.
		if a.EnabledByDefault != (a.AuthType == linkd.AuthKeyBased) {
			t.Errorf("%s: enabled_by_default = %v for auth_type %s", a.Slug, a.EnabledByDefault, a.AuthType)
		}
	}
	if _, ok := c.App("nope"); ok {
		t.Error(`App("nope") found`)
	}
}

// TestShippedOAuthEndpoints holds every shipped OAuth endpoint to https, not
// merely to the loopback exception the validator allows for tests.
func TestShippedOAuthEndpoints(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Apps() {
		if a.AuthType != linkd.AuthOAuth2 {
			continue
		}
		for name, raw := range map[string]string{
			"authorize_url":  a.OAuth.AuthorizeURL,
			"token_url":      a.OAuth.TokenURL,
			"revocation_url": a.OAuth.RevocationURL,
		} {
			if raw == "" && name == "revocation_url" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				t.Errorf("%s: %s = %q, want an absolute https URL", a.Slug, name, raw)
			}
		}
	}
}

// TestShippedProviderQuirks pins the per-provider settings that are easy to
// lose in an edit and break a flow only at the provider.
func TestShippedProviderQuirks(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(slug string) *linkd.OAuthSpec {
		a, ok := c.App(slug)
		if !ok || a.OAuth == nil {
			t.Fatalf("%s: missing or not oauth2", slug)
		}
		return a.OAuth
	}
	if s := spec("slack"); s.ScopeSeparator != "," || s.TokenURL != "https://slack.com/api/oauth.v2.access" || s.AuthStyle != "params" {
		t.Errorf("slack: %+v", s)
	}
	if s := spec("github"); s.RevocationURL != "https://api.github.com/applications/{client_id}/grant" || s.Revocation == nil ||
		*s.Revocation != (linkd.RevocationSpec{Method: "DELETE", Format: "json", TokenField: "access_token", Auth: "header"}) {
		t.Errorf("github revocation: %q %+v", s.RevocationURL, s.Revocation)
	}
	if s := spec("google-sheets"); s.ExtraParams["access_type"] != "offline" || s.ExtraParams["prompt"] != "consent" || !s.PKCE ||
		s.RevocationURL != "https://oauth2.googleapis.com/revoke" {
		t.Errorf("google-sheets: %+v", s)
	}
	if s := spec("salesforce"); !s.PKCE || s.RevocationURL != "https://login.salesforce.com/services/oauth2/revoke" {
		t.Errorf("salesforce: %+v", s)
	}
	// Callers may add only documented hints, never what the app fixes.
	for slug, want := range map[string][]string{"slack": {"team"}, "github": {"login", "allow_signup"}, "google-sheets": {"login_hint"},
		"salesforce": {"login_hint"}, "hubspot": nil, "notion": nil} {
		a, _ := c.App(slug)
		if got := a.AuthorizeParams(); !slices.Equal(got, want) {
			t.Errorf("%s: authorize parameters %v, want %v", slug, got, want)
		}
	}
	if s := spec("notion"); s.ExtraParams["owner"] != "user" || s.AuthStyle != "header" ||
		s.RevocationURL != "https://api.notion.com/v1/oauth/revoke" || s.Revocation == nil || s.Revocation.Format != "json" {
		t.Errorf("notion: %+v", s)
	}
}

const userApps = `
apps:
  - slug: slack                     # replaces the shipped Slack
    name: Slack (EU proxy)
    auth_type: oauth2
    oauth2:
      authorize_url: http://127.0.0.1:8080/authorize
      token_url: http://localhost:8080/token
  - slug: acme-crm
    name: Acme CRM
    auth_type: keybased
    auth_inputs:
      - {name: api_key, label: API key, type: password, required: true}
`

func TestOverrideBySlug(t *testing.T) {
	c, err := Load(strings.NewReader(userApps))
	if err != nil {
		t.Fatal(err)
	}
	slack, _ := c.App("slack")
	if slack.Name != "Slack (EU proxy)" || slack.OAuth.TokenURL != "http://localhost:8080/token" || len(slack.Workflows) != 0 {
		t.Errorf("slack not replaced: %+v", slack)
	}
	if _, ok := c.App("acme-crm"); !ok {
		t.Error("acme-crm not added")
	}
	if _, ok := c.App("hubspot"); !ok {
		t.Error("shipped apps lost")
	}
	if got := len(c.Apps()); got != 10 {
		t.Errorf("%d apps, want 10", got)
	}
	if first := c.Apps()[0]; first.Slug != "acme-crm" {
		t.Errorf("first app %q, want acme-crm (sorted by name)", first.Slug)
	}

	// The shipped catalog is parsed afresh: an override does not leak.
	again, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := again.App("slack"); s.Name != "Slack" {
		t.Errorf("shipped slack = %q", s.Name)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(path, []byte(userApps), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.App("acme-crm"); !ok {
		t.Error("acme-crm not added")
	}
	if c, err := LoadFile(""); err != nil || len(c.Apps()) != 9 {
		t.Errorf(`LoadFile("") = %d apps, %v`, len(c.Apps()), err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
	for _, empty := range []string{"", "# nothing yet\n", "apps: []\n", "apps:\n"} {
		if c, err := Load(strings.NewReader(empty)); err != nil || len(c.Apps()) != 9 {
			t.Errorf("Load(%q): %v", empty, err)
		}
	}
}

// app wraps one app's YAML (indented as a list item) into a catalog file.
func app(body string) string {
	return "apps:\n" + body
}

const keyApp = `  - slug: acme
    name: Acme
    auth_type: keybased
`

const oauthApp = `  - slug: acme
    name: Acme
    auth_type: oauth2
    oauth2:
      authorize_url: https://acme.example/authorize
`

func TestBrokenFiles(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantApp   string // as Error.App shows it
		wantField string
		wantLine  int // 0: not checked
		wantMsg   string
	}{
		{
			name: "unknown key in oauth2",
			yaml: app(oauthApp + `      token_url: https://acme.example/token
      scope: [read]
`),
			wantApp: `"acme"`, wantField: "scope", wantLine: 8, wantMsg: "unknown key",
		},
		{
			name: "unknown key in app, second entry",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
  - slug: other
    name: Other
    descripton: typo
    auth_type: keybased
`),
			wantApp: `"other"`, wantField: "descripton", wantLine: 8, wantMsg: "unknown key",
		},
		{
			name:    "bad slug",
			yaml:    app(strings.Replace(keyApp, "slug: acme", "slug: Acme_CRM", 1)),
			wantApp: `"Acme_CRM"`, wantField: "slug", wantLine: 2, wantMsg: "not a valid slug",
		},
		{
			name:    "missing slug",
			yaml:    app(strings.Replace(keyApp, "slug: acme", "slug: ''", 1)),
			wantApp: "apps[0]", wantField: "slug",
		},
		{
			name: "duplicate slug",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
` + keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
`),
			wantApp: `"acme"`, wantField: "slug", wantLine: 6, wantMsg: "duplicate slug",
		},
		{
			name:    "missing name",
			yaml:    app(strings.Replace(keyApp, "name: Acme", "name: ' '", 1)),
			wantApp: `"acme"`, wantField: "name",
		},
		{
			name:    "bad auth_type",
			yaml:    app(strings.Replace(keyApp, "keybased", "apikey", 1)),
			wantApp: `"acme"`, wantField: "auth_type",
		},
		{
			name:    "oauth2 without spec",
			yaml:    app(strings.Replace(keyApp, "keybased", "oauth2", 1)),
			wantApp: `"acme"`, wantField: "oauth2",
		},
		{
			name:    "missing token_url",
			yaml:    app(oauthApp),
			wantApp: `"acme"`, wantField: "oauth2.token_url", wantMsg: "required",
		},
		{
			name:    "http token_url",
			yaml:    app(oauthApp + "      token_url: http://acme.example/token\n"),
			wantApp: `"acme"`, wantField: "oauth2.token_url", wantMsg: "https",
		},
		{
			name:    "relative authorize_url",
			yaml:    app(strings.Replace(oauthApp, "https://acme.example/authorize", "/authorize", 1) + "      token_url: https://acme.example/token\n"),
			wantApp: `"acme"`, wantField: "oauth2.authorize_url",
		},
		{
			name:    "http revocation_url",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      revocation_url: http://acme.example/revoke\n"),
			wantApp: `"acme"`, wantField: "oauth2.revocation_url",
		},
		{
			name:    "bad auth_style",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      auth_style: basic\n"),
			wantApp: `"acme"`, wantField: "oauth2.auth_style",
		},
		{
			name:    "keybased with no inputs",
			yaml:    app(keyApp),
			wantApp: `"acme"`, wantField: "auth_inputs", wantMsg: "at least one",
		},
		{
			name: "keybased with oauth2 block",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
    oauth2: {authorize_url: https://a.example/a, token_url: https://a.example/t}
`),
			wantApp: `"acme"`, wantField: "oauth2",
		},
		{
			name: "duplicate input name",
			yaml: app(keyApp + `    auth_inputs:
      - {name: api_key, label: API key, type: password}
      - {name: api_key, label: Key again, type: text}
`),
			wantApp: `"acme"`, wantField: "auth_inputs[1].name", wantMsg: "duplicate",
		},
		{
			name:    "bad input type",
			yaml:    app(keyApp + "    auth_inputs: [{name: k, label: K, type: secret}]\n"),
			wantApp: `"acme"`, wantField: "auth_inputs[0].type", wantMsg: `"secret"`,
		},
		{
			name:    "input without label",
			yaml:    app(keyApp + "    auth_inputs: [{name: k, type: text}]\n"),
			wantApp: `"acme"`, wantField: "auth_inputs[0].label",
		},
		{
			name:    "select without options",
			yaml:    app(keyApp + "    auth_inputs: [{name: region, label: Region, type: select}]\n"),
			wantApp: `"acme"`, wantField: "auth_inputs[0].options",
		},
		{
			name: "wrong type for a key",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
    enabled_by_default: maybe
`),
			wantApp: `"acme"`, wantLine: 6, wantMsg: "cannot unmarshal",
		},
		{
			name: "duplicate workflow id",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
    workflows:
      - {id: sync-contacts, name: Sync contacts}
      - {id: sync-contacts, name: Sync contacts again}
`),
			wantApp: `"acme"`, wantField: "workflows[1].id", wantMsg: "duplicate",
		},
		{
			name: "duplicate config field id",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
    config_fields:
      - {id: list, name: List, field_type: text}
      - {id: list, name: List, field_type: number}
`),
			wantApp: `"acme"`, wantField: "config_fields[1].id", wantMsg: "duplicate",
		},
		{
			name:    "allowed param set by linkd",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      allowed_params: [login_hint, redirect_uri]\n"),
			wantApp: `"acme"`, wantField: "oauth2.allowed_params[1]", wantMsg: "set by linkd",
		},
		{
			name: "allowed param fixed by extra_params",
			yaml: app(oauthApp + `      token_url: https://acme.example/token
      extra_params: {prompt: consent}
      allowed_params: [prompt]
`),
			wantApp: `"acme"`, wantField: "oauth2.allowed_params[0]", wantMsg: "extra_params",
		},
		{
			name:    "allowed param with a bad name",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      allowed_params: ['a b']\n"),
			wantApp: `"acme"`, wantField: "oauth2.allowed_params[0]", wantMsg: "not a valid parameter name",
		},
		{
			name:    "duplicate allowed param",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      allowed_params: [team, team]\n"),
			wantApp: `"acme"`, wantField: "oauth2.allowed_params[1]", wantMsg: "duplicate",
		},
		{
			name:    "extra param for linkd's own route",
			yaml:    app(oauthApp + "      token_url: https://acme.example/token\n      extra_params: {return_to: /x}\n"),
			wantApp: `"acme"`, wantField: "oauth2.extra_params", wantMsg: "set by linkd",
		},
		{
			name: "oauth input named like a fixed parameter",
			yaml: app(oauthApp + `      token_url: https://acme.example/token
      extra_params: {audience: api}
    auth_inputs: [{name: audience, label: Audience, type: text}]
`),
			wantApp: `"acme"`, wantField: "auth_inputs[0].name", wantMsg: "extra_params",
		},
		{
			name: "oauth input named like linkd's parameter",
			yaml: app(oauthApp + `      token_url: https://acme.example/token
    auth_inputs: [{name: state, label: State, type: text}]
`),
			wantApp: `"acme"`, wantField: "auth_inputs[0].name", wantMsg: "set by linkd",
		},
		{
			name: "bad workflow field type",
			yaml: app(keyApp + `    auth_inputs: [{name: k, label: K, type: text}]
    workflows:
      - id: sync
        name: Sync
        fields: [{id: when, name: When, field_type: datetime}]
`),
			wantApp: `"acme"`, wantField: "workflows[0].fields[0].field_type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.yaml))
			if err == nil {
				t.Fatalf("loaded:\n%s", tt.yaml)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *catalog.Error", err, err)
			}
			if e.Source != "apps" || e.App != tt.wantApp || e.Field != tt.wantField {
				t.Errorf("got source %q app %s field %q, want apps %s %q (%v)", e.Source, e.App, e.Field, tt.wantApp, tt.wantField, err)
			}
			if tt.wantLine != 0 && e.Line != tt.wantLine {
				t.Errorf("line %d, want %d (%v)", e.Line, tt.wantLine, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "app "+tt.wantApp) || !strings.Contains(msg, tt.wantField) || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q should name app %s, field %q and say %q", msg, tt.wantApp, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestBrokenDocuments(t *testing.T) {
	for _, doc := range []string{
		"apps: [\n",                       // syntax
		"- slug: acme\n",                  // not a mapping
		"app:\n  - slug: acme\n",          // unknown top-level key
		"apps: []\n---\napps: []\n",       // two documents
		"apps:\n  -\n",                    // empty entry
		"apps:\n  - just a string\n",      // entry is not a mapping
		"apps: {slug: acme}\n",            // apps is not a list
		"apps:\n  - slug: [a, b]\n",       // slug is not a string
		"apps:\n  - slug: a\n    slug: b", // duplicate key
	} {
		if _, err := Load(strings.NewReader(doc)); err == nil {
			t.Errorf("loaded %q", doc)
		} else if !strings.HasPrefix(err.Error(), "apps") {
			t.Errorf("error %q does not name the source", err)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://x.example/t":       true,
		"http://127.0.0.1:9/t":      true,
		"http://localhost/t":        true,
		"http://[::1]:9/t":          true,
		"http://127.0.0.1.nip.io/t": false,
		"http://x.example/t":        false,
		"https://x.example/t#frag":  false,
		"https://u:p@x.example/t":   false,
		"ftp://x.example/t":         false,
		"x.example/t":               false,
	} {
		if err := checkEndpoint(raw); (err == nil) != ok {
			t.Errorf("checkEndpoint(%q) = %v", raw, err)
		}
	}
}

// FuzzLoad checks that no input makes Load panic, and that what loads obeys
// the rules.
func FuzzLoad(f *testing.F) {
	f.Add(userApps)
	f.Add(string(shipped))
	f.Add(app(keyApp))
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Load(strings.NewReader(doc))
		if err != nil {
			return
		}
		for _, a := range c.Apps() {
			if err := validate(a, func(field, format string, args ...any) error {
				return errors.New(field)
			}); err != nil {
				t.Fatalf("loaded app %q breaks %v", a.Slug, err)
			}
		}
	})
}
