package catalog

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/tmpl"
)

// hostRE is a lower-case DNS name or IP literal, optionally "*." first.
var hostRE = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$|^\[[0-9a-f:.]+\]$`)

// validateProxy checks an app's proxy block and compiles its templates.
// Every app linkd ships has one (required says so); an operator's own app
// may leave it out, and the proxy then refuses that app by name.
func validateProxy(a *linkd.App, required bool, fail failFunc) error {
	p := a.Proxy
	if p == nil {
		if required {
			return fail("proxy", "required for a shipped app: base_url, allowed_hosts and, for a key-based app, auth")
		}
		return nil
	}
	if len(p.AllowedHosts) == 0 {
		return fail("proxy.allowed_hosts", "required: the hosts calls may reach (a name, or *.suffix)")
	}
	for i, h := range p.AllowedHosts {
		suffix, wild := strings.CutPrefix(h, "*.")
		if !hostRE.MatchString(h) || wild && !strings.Contains(suffix, ".") {
			return fail(fmt.Sprintf("proxy.allowed_hosts[%d]", i), "%q is not a lower-case host name, or *. and a domain with at least one dot", h)
		}
	}
	// Metadata an OAuth app keeps are all a base URL may use.
	var meta []string
	if a.OAuth != nil {
		meta = a.OAuth.Metadata
	}
	var err error
	if p.Base, err = baseTemplate("proxy.base_url", p.BaseURL, p, meta, fail); err != nil {
		return err
	}
	if b := p.BaseURLBy; b != nil {
		in := inputNamed(a, b.Input)
		if in == nil || in.Type != "select" {
			return fail("proxy.base_url_by.input", "%q is not a select input of this app", b.Input)
		}
		p.BaseBy = make(map[string]*tmpl.Template, len(b.URLs))
		for v, u := range b.URLs {
			field := "proxy.base_url_by.urls." + v
			if !slices.ContainsFunc(in.Options, func(o linkd.FieldOption) bool { return o.Value == v }) {
				return fail(field, "%q is not an option of input %s", v, b.Input)
			}
			if p.BaseBy[v], err = baseTemplate(field, u, p, meta, fail); err != nil {
				return err
			}
		}
	}
	switch a.AuthType {
	case linkd.AuthOAuth2:
		if p.Auth != nil {
			return fail("proxy.auth", "an OAuth app's calls carry its access token as a bearer token; remove proxy.auth")
		}
	case linkd.AuthKeyBased:
		if err := validateProxyAuth(a, fail); err != nil {
			return err
		}
	}
	for name, v := range p.Headers {
		field := "proxy.headers." + name
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
			return fail(field, "not a valid header")
		}
		if !linkd.ForwardedRequestHeader(http.CanonicalHeaderKey(name)) {
			return fail(field, "linkd sets or removes %s itself", name)
		}
	}
	return nil
}

// baseTemplate compiles a base URL: a fixed https URL on an allowed host, or
// a template over connection.metadata checked when filled in.
func baseTemplate(field, raw string, p *linkd.ProxySpec, meta []string, fail failFunc) (*tmpl.Template, error) {
	if raw == "" {
		return nil, fail(field, "required: the URL paths are joined to")
	}
	t, err := tmpl.Parse(raw)
	if err != nil {
		return nil, fail(field, "%v", err)
	}
	for _, path := range t.Paths() {
		key, ok := strings.CutPrefix(path, "connection.metadata.")
		if !ok || !slices.Contains(meta, key) {
			return nil, fail(field, "{{%s}}: a base URL may use connection.metadata.<key> for the keys in oauth2.metadata (%s) only", path, strings.Join(meta, ", "))
		}
	}
	if len(t.Paths()) > 0 {
		return t, nil // checked once filled in, on every call
	}
	if err := CheckProxyBase(raw, p); err != nil {
		return nil, fail(field, "%v", err)
	}
	return t, nil
}

// CheckProxyBase checks a base URL (fixed, or a template filled in): https
// (http only on loopback, for tests and on-premise apps), no query, fragment
// or credentials, on one of p's allowed hosts.
func CheckProxyBase(raw string, p *linkd.ProxySpec) error {
	if err := checkEndpoint(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	if u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("%q must not have a query", raw)
	}
	if !p.HostAllowed(u.Hostname()) {
		return fmt.Errorf("host %q of %q is not in allowed_hosts", u.Hostname(), raw)
	}
	return nil
}

func validateProxyAuth(a *linkd.App, fail failFunc) error {
	au := a.Proxy.Auth
	if au == nil {
		return fail("proxy.auth", "required for a key-based app: header or query, and a value such as \"Bearer {{fields.api_key}}\"")
	}
	if (au.Header == "") == (au.Query == "") {
		return fail("proxy.auth", "set exactly one of header and query")
	}
	if au.Header != "" && !httpguts.ValidHeaderFieldName(au.Header) {
		return fail("proxy.auth.header", "%q is not a header name", au.Header)
	}
	t, err := tmpl.Parse(au.Value)
	if err != nil {
		return fail("proxy.auth.value", "%v", err)
	}
	if len(t.Paths()) == 0 {
		return fail("proxy.auth.value", "must use at least one {{fields.<input>}}")
	}
	for _, path := range t.Paths() {
		name, ok := strings.CutPrefix(path, "fields.")
		if !ok || inputNamed(a, name) == nil {
			return fail("proxy.auth.value", "{{%s}} is not fields.<one of the app's auth_inputs>", path)
		}
	}
	a.Proxy.AuthWith = t
	return nil
}

func inputNamed(a *linkd.App, name string) *linkd.InputField {
	for i := range a.AuthInputs {
		if a.AuthInputs[i].Name == name {
			return &a.AuthInputs[i]
		}
	}
	return nil
}
