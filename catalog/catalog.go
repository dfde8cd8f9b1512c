// Package catalog provides the applications linkd knows: the catalog shipped
// in catalog.yaml, optionally extended and overridden by an operator's own
// YAML file (LINKD_APPS).
//
// Both files are checked strictly when they are loaded, so that a typo or a
// plain-http token URL stops the server at start rather than surfacing as a
// failed connection in front of an end customer.
package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/linkd-dev/linkd"
)

//go:embed catalog.yaml
var shipped []byte

// ShippedName is how errors name the embedded catalog.
const ShippedName = "catalog.yaml"

// Catalog is an immutable set of apps. The apps it hands out are shared:
// callers must not modify them.
type Catalog struct {
	apps   []*linkd.App // sorted by name, then slug
	bySlug map[string]*linkd.App
}

var _ linkd.Catalog = (*Catalog)(nil)

// Load returns the shipped catalog plus the apps read from extra, whose
// entries replace shipped apps with the same slug. extra may be nil. Every
// app is validated; the error names the source (extra's Name() when it has
// one, like an *os.File, else "apps"), the app and the field.
func Load(extra io.Reader) (*Catalog, error) {
	if extra == nil {
		return build(nil, "")
	}
	data, err := io.ReadAll(extra)
	if err != nil {
		return nil, fmt.Errorf("read apps: %w", err)
	}
	name := "apps"
	if n, ok := extra.(interface{ Name() string }); ok && n.Name() != "" {
		name = n.Name()
	}
	return build(data, name)
}

// LoadFile is Load with the YAML file at path (LINKD_APPS); an empty path
// means the shipped catalog alone.
func LoadFile(path string) (*Catalog, error) {
	if path == "" {
		return build(nil, "")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read apps: %w", err)
	}
	return build(data, path)
}

func build(extra []byte, extraName string) (*Catalog, error) {
	base, err := parse(ShippedName, shipped)
	if err != nil {
		return nil, err
	}
	c := &Catalog{bySlug: make(map[string]*linkd.App, len(base))}
	for _, a := range base {
		c.bySlug[a.Slug] = a
	}
	if extraName != "" {
		own, err := parse(extraName, extra)
		if err != nil {
			return nil, err
		}
		for _, a := range own {
			c.bySlug[a.Slug] = a
		}
	}
	for _, a := range c.bySlug {
		c.apps = append(c.apps, a)
	}
	sort.Slice(c.apps, func(i, j int) bool {
		a, b := c.apps[i], c.apps[j]
		if la, lb := strings.ToLower(a.Name), strings.ToLower(b.Name); la != lb {
			return la < lb
		}
		return a.Slug < b.Slug
	})
	return c, nil
}

// App returns the app with the given slug.
func (c *Catalog) App(slug string) (*linkd.App, bool) {
	a, ok := c.bySlug[slug]
	return a, ok
}

// Apps returns every app, sorted by name. The slice is the caller's own.
func (c *Catalog) Apps() []*linkd.App {
	return append([]*linkd.App(nil), c.apps...)
}

// Error is a catalog entry that breaks a rule. It carries what an operator
// needs to find the line to fix: the file, the line of the app's entry, the
// app and the field.
type Error struct {
	Source string // file name, or ShippedName
	Line   int    // line of the app's entry; 0 when unknown
	App    string // the app's slug in quotes, or apps[i] when it has none
	Field  string // e.g. "oauth2.token_url"; empty when about the whole entry
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	fmt.Fprintf(&b, ": app %s", e.App)
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// file is the layout of a catalog file: a top-level "apps" list, which
// leaves room for other top-level keys later.
type file struct {
	Apps []*linkd.App `yaml:"apps"`
}

// entry locates one app of a file, for error messages.
type entry struct {
	line int
	name string // `"slug"`, or apps[i]
}

// parse decodes and validates one catalog file. Slugs must be unique within
// the file; overriding is only between files.
func parse(src string, data []byte) ([]*linkd.App, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file adds nothing
	}
	entries := locate(&doc)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, typeErrors(src, te, entries)
		}
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err := dec.Decode(new(yaml.Node)); err != io.EOF {
		return nil, fmt.Errorf("%s: more than one YAML document; put every app under one top-level apps list", src)
	}

	seen := make(map[string]int, len(f.Apps))
	for i, a := range f.Apps {
		e := entryAt(entries, i)
		fail := func(field, format string, args ...any) error {
			return &Error{Source: src, Line: e.line, App: e.name, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if a == nil {
			return nil, fail("", "empty entry")
		}
		if err := validate(a, fail); err != nil {
			return nil, err
		}
		if err := validateProxy(a, src == ShippedName, fail); err != nil {
			return nil, err
		}
		for i := range a.Workflows {
			if err := validateWorkflow(a, &a.Workflows[i], fmt.Sprintf("workflows[%s]", a.Workflows[i].ID), fail); err != nil {
				return nil, err
			}
		}
		if j, dup := seen[a.Slug]; dup {
			return nil, fail("slug", "duplicate slug; apps[%d] (line %d) has it already", j, entryAt(entries, j).line)
		}
		seen[a.Slug] = i
	}
	return f.Apps, nil
}

// locate finds the line and a display name of every entry of the apps list,
// from the parsed node tree, so that errors can point at them.
func locate(doc *yaml.Node) []entry {
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var seq *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "apps" {
			seq = root.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	entries := make([]entry, len(seq.Content))
	for i, n := range seq.Content {
		entries[i] = entry{line: n.Line, name: fmt.Sprintf("apps[%d]", i)}
		if n.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(n.Content); k += 2 {
			if v := n.Content[k+1]; n.Content[k].Value == "slug" && v.Kind == yaml.ScalarNode && v.Value != "" {
				entries[i].name = fmt.Sprintf("%q", v.Value)
			}
		}
	}
	return entries
}

func entryAt(entries []entry, i int) entry {
	if i < len(entries) {
		return entries[i]
	}
	return entry{name: fmt.Sprintf("apps[%d]", i)}
}

// typeErrors turns the decoder's "line N: …" messages into Errors that name
// the app the line belongs to, with unknown keys reported as such.
func typeErrors(src string, te *yaml.TypeError, entries []entry) error {
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", src, msg))
			continue
		}
		_, msg, _ = strings.Cut(msg, ": ")
		app := -1
		for i, e := range entries {
			if e.line <= line {
				app = i
			}
		}
		if app < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s", src, line, msg))
			continue
		}
		e := &Error{Source: src, Line: line, App: entries[app].name, Msg: msg}
		// "field scope not found in type linkd.OAuthSpec"
		if name, typ, ok := strings.Cut(strings.TrimPrefix(msg, "field "), " not found in type "); ok && strings.HasPrefix(msg, "field ") {
			e.Field = name
			e.Msg = fmt.Sprintf("unknown key (not a field of %s); check its spelling and indentation", typ)
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

var (
	slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// idRE is for the names of inputs, config fields and workflows, which
	// end up as JSON keys and in URLs.
	idRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	// stepIDRE names steps and set values, which templates and
	// expressions read as steps.<id>: an identifier.
	stepIDRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
)

// Field types, as the compatible API documents them.
var (
	inputTypes  = []string{"text", "number", "boolean", "select", "password"}
	configTypes = []string{"text", "date", "number", "url", "email", "textarea", "select", "json", "map", "map_v2", "rule_engine"}
)

type failFunc func(field, format string, args ...any) error

// validate checks one app. It reports the first rule broken, naming the field
// by its YAML path.
func validate(a *linkd.App, fail failFunc) error {
	if !slugRE.MatchString(a.Slug) {
		return fail("slug", "%q is not a valid slug: use 1-63 lower-case letters, digits and hyphens, starting with a letter or digit", a.Slug)
	}
	if slices.Contains(reservedSlugs, a.Slug) {
		return fail("slug", "%q names an API route (/api/v2/public/application/%s); choose another slug", a.Slug, a.Slug)
	}
	if strings.TrimSpace(a.Name) == "" {
		return fail("name", "required")
	}
	if a.IconURL != "" {
		if err := checkURL(a.IconURL); err != nil {
			return fail("icon", "%v", err)
		}
	}
	for i, t := range a.Tags {
		if strings.TrimSpace(t) == "" {
			return fail(fmt.Sprintf("tags[%d]", i), "empty tag")
		}
	}
	switch a.AuthType {
	case linkd.AuthOAuth2:
		if err := validateOAuth(a.OAuth, fail); err != nil {
			return err
		}
		if err := validateOAuthInputs(a, fail); err != nil {
			return err
		}
	case linkd.AuthKeyBased:
		if a.OAuth != nil {
			return fail("oauth2", "only allowed when auth_type is %s", linkd.AuthOAuth2)
		}
		if len(a.AuthInputs) == 0 {
			return fail("auth_inputs", "a %s app needs at least one input (e.g. an API key)", linkd.AuthKeyBased)
		}
	case "":
		return fail("auth_type", "required: %s or %s", linkd.AuthOAuth2, linkd.AuthKeyBased)
	default:
		return fail("auth_type", "%q is not %s or %s", a.AuthType, linkd.AuthOAuth2, linkd.AuthKeyBased)
	}
	if err := validateInputs(a.AuthInputs, fail); err != nil {
		return err
	}
	if err := validateConfigFields("config_fields", a.ConfigFields, fail); err != nil {
		return err
	}
	seen := make(map[string]bool, len(a.Workflows))
	for i, w := range a.Workflows {
		path := fmt.Sprintf("workflows[%d]", i)
		if !idRE.MatchString(w.ID) {
			return fail(path+".id", "%q is not a valid id: use letters, digits, '-', '_' and '.', at most 64", w.ID)
		}
		if seen[w.ID] {
			return fail(path+".id", "duplicate workflow id %q", w.ID)
		}
		seen[w.ID] = true
		if strings.TrimSpace(w.Name) == "" {
			return fail(path+".name", "required")
		}
		if err := validateConfigFields(path+".fields", w.Fields, fail); err != nil {
			return err
		}
	}
	return nil
}

func validateOAuth(o *linkd.OAuthSpec, fail failFunc) error {
	if o == nil {
		return fail("oauth2", "required when auth_type is %s", linkd.AuthOAuth2)
	}
	for _, u := range []struct{ field, value string }{
		{"oauth2.authorize_url", o.AuthorizeURL},
		{"oauth2.token_url", o.TokenURL},
		{"oauth2.revocation_url", o.RevocationURL},
	} {
		if u.value == "" {
			if u.field == "oauth2.revocation_url" {
				continue
			}
			return fail(u.field, "required")
		}
		if err := checkEndpoint(u.value); err != nil {
			return fail(u.field, "%v", err)
		}
	}
	for i, s := range o.Scopes {
		if strings.TrimSpace(s) == "" {
			return fail(fmt.Sprintf("oauth2.scopes[%d]", i), "empty scope")
		}
	}
	if r := o.Revocation; r != nil {
		if o.RevocationURL == "" {
			return fail("oauth2.revocation", "needs oauth2.revocation_url")
		}
		switch r.Method {
		case "", "POST", "DELETE":
		default:
			return fail("oauth2.revocation.method", "%q is not POST or DELETE", r.Method)
		}
		switch r.Format {
		case "", "form", "json":
		default:
			return fail("oauth2.revocation.format", "%q is not form or json", r.Format)
		}
		switch r.Auth {
		case "", "header", "params":
		default:
			return fail("oauth2.revocation.auth", "%q is not header or params", r.Auth)
		}
		if r.TokenField != "" && !idRE.MatchString(r.TokenField) {
			return fail("oauth2.revocation.token_field", "%q is not a valid field name", r.TokenField)
		}
	}
	switch o.AuthStyle {
	case "", "header", "params":
	default:
		return fail("oauth2.auth_style", "%q is not header or params (or empty to detect)", o.AuthStyle)
	}
	for k := range o.ExtraParams {
		if k == "" || linkdParams[k] {
			return fail("oauth2.extra_params", "%q is set by linkd itself and cannot be overridden", k)
		}
	}
	seen := make(map[string]bool, len(o.AllowedParams))
	for i, p := range o.AllowedParams {
		path := fmt.Sprintf("oauth2.allowed_params[%d]", i)
		switch _, fixed := o.ExtraParams[p]; {
		case !idRE.MatchString(p):
			return fail(path, "%q is not a valid parameter name: use letters, digits, '-', '_' and '.', at most 64", p)
		case linkdParams[p]:
			return fail(path, "%q is set by linkd itself and cannot be left to callers", p)
		case fixed:
			return fail(path, "%q is fixed by oauth2.extra_params; it cannot also be left to callers", p)
		case seen[p]:
			return fail(path, "duplicate parameter %q", p)
		}
		seen[p] = true
	}
	return nil
}

// linkdParams are the authorize parameters linkd sets itself (and the query
// parameters of its own routes, which never reach the provider): neither
// the catalog nor a caller may set them.
var linkdParams = map[string]bool{
	"client_id": true, "redirect_uri": true, "response_type": true, "scope": true, "state": true,
	"code_challenge": true, "code_challenge_method": true, "linked_account_id": true, "return_to": true,
}

// validateOAuthInputs checks the auth_inputs of an OAuth app, which a
// caller passes to the authorize URL: they must not name one of linkd's
// parameters or one the app fixes.
func validateOAuthInputs(a *linkd.App, fail failFunc) error {
	for i, f := range a.AuthInputs {
		path := fmt.Sprintf("auth_inputs[%d].name", i)
		if _, fixed := a.OAuth.ExtraParams[f.Name]; fixed || linkdParams[f.Name] {
			return fail(path, "%q is an authorize parameter set by linkd or by oauth2.extra_params; an input cannot set it", f.Name)
		}
		if slices.Contains(a.OAuth.AllowedParams, f.Name) {
			return fail(path, "%q is listed in oauth2.allowed_params too; an input is accepted already", f.Name)
		}
	}
	return nil
}

func validateInputs(in []linkd.InputField, fail failFunc) error {
	seen := make(map[string]bool, len(in))
	for i, f := range in {
		path := fmt.Sprintf("auth_inputs[%d]", i)
		if !idRE.MatchString(f.Name) {
			return fail(path+".name", "%q is not a valid name: use letters, digits, '-', '_' and '.', at most 64", f.Name)
		}
		if seen[f.Name] {
			return fail(path+".name", "duplicate input name %q", f.Name)
		}
		seen[f.Name] = true
		if strings.TrimSpace(f.Label) == "" {
			return fail(path+".label", "required")
		}
		if err := checkType(path, "type", f.Type, inputTypes, f.Options, fail); err != nil {
			return err
		}
	}
	return nil
}

func validateConfigFields(at string, fields []linkd.ConfigField, fail failFunc) error {
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		path := fmt.Sprintf("%s[%d]", at, i)
		if !idRE.MatchString(f.ID) {
			return fail(path+".id", "%q is not a valid id: use letters, digits, '-', '_' and '.', at most 64", f.ID)
		}
		if seen[f.ID] {
			return fail(path+".id", "duplicate field id %q", f.ID)
		}
		seen[f.ID] = true
		if strings.TrimSpace(f.Name) == "" {
			return fail(path+".name", "required")
		}
		if err := checkType(path, "field_type", f.FieldType, configTypes, f.Options, fail); err != nil {
			return err
		}
		if f.Template && f.FieldType != "text" && f.FieldType != "textarea" {
			return fail(path+".template", "only a text or textarea field holds a template")
		}
	}
	return nil
}

// checkType checks a field's type and that options come with select fields,
// and only with them.
func checkType(path, key, typ string, valid []string, opts []linkd.FieldOption, fail failFunc) error {
	if !slices.Contains(valid, typ) {
		return fail(path+"."+key, "%q is not one of %s", typ, strings.Join(valid, ", "))
	}
	if typ == "select" && len(opts) == 0 {
		return fail(path+".options", "a select field needs at least one option")
	}
	if typ != "select" && len(opts) > 0 {
		return fail(path+".options", "only select fields have options")
	}
	values := make(map[string]bool, len(opts))
	for j, o := range opts {
		if o.Value == "" {
			return fail(fmt.Sprintf("%s.options[%d].value", path, j), "required")
		}
		if values[o.Value] {
			return fail(fmt.Sprintf("%s.options[%d].value", path, j), "duplicate option value %q", o.Value)
		}
		values[o.Value] = true
	}
	return nil
}

// checkEndpoint accepts absolute https URLs without fragment (RFC 6749 §3.1),
// and http only on the loopback host, where tests run their own provider.
// Plain http elsewhere would send codes and client secrets in the clear.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not have a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry credentials", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("%q must be an https URL (http is allowed only for localhost and 127.0.0.1)", raw)
	}
}

// checkURL accepts any absolute http(s) URL, for links that carry no secret.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
