package linkd

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd/tmpl"
)

// ProxySpec is how linkd reaches an app's API for a linked account: where,
// which hosts, and how the call is authenticated. The caller chooses only
// the path: never the host, so a connection's token can be sent nowhere but
// to its app.
type ProxySpec struct {
	// BaseURL is what paths are joined to: an https URL, or a template over
	// connection.metadata for apps whose host depends on the customer
	// ("{{connection.metadata.instance_url}}/services/data/v61.0").
	BaseURL string `yaml:"base_url"`
	// BaseURLBy picks another base URL by the value of one of a key-based
	// app's inputs (SendGrid's data residency).
	BaseURLBy *BaseURLChoice `yaml:"base_url_by,omitempty"`
	// AllowedHosts are the hosts a call may reach: a name, or "*.suffix"
	// for any subdomain of suffix. The base URL's host must be one of them
	// once filled in.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Auth is how a key-based app's calls are authenticated. OAuth apps
	// send the access token as a bearer token and set none.
	Auth *ProxyAuth `yaml:"auth,omitempty"`
	// Headers are sent with every call that does not set them itself (an
	// API version, say).
	Headers map[string]string `yaml:"headers,omitempty"`

	// Base and the others are the templates above, compiled when the
	// catalog loads.
	Base     *tmpl.Template            `yaml:"-"`
	BaseBy   map[string]*tmpl.Template `yaml:"-"`
	AuthWith *tmpl.Template            `yaml:"-"`
}

// BaseURLChoice maps the values of a key-based app's input to base URLs;
// other values use ProxySpec.BaseURL.
type BaseURLChoice struct {
	Input string            `yaml:"input"`
	URLs  map[string]string `yaml:"urls"`
}

// ProxyAuth puts a key-based app's credentials in a header or in a query
// parameter (exactly one), with a value that is a template over the
// connection's fields: "Bearer {{fields.secret_key}}".
type ProxyAuth struct {
	Header string `yaml:"header,omitempty"`
	Query  string `yaml:"query,omitempty"`
	Value  string `yaml:"value"`
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

// HostAllowed reports whether a call may reach host (a name without port,
// any case): one of AllowedHosts, or a subdomain of a "*.suffix" entry
// (not suffix itself).
func (p *ProxySpec) HostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.AllowedHosts {
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// Request headers a call to an app never carries from the caller: they
// belong to the connection between caller and linkd (hop-by-hop, Host),
// authenticate the caller at linkd or at the app (linkd sets the app's),
// or say what linkd alone may say (X-Forwarded-*, linkd's options).
var deniedRequestHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Host": true,
	"X-Api-Key": true, "Linked_account_id": true, "Linked-Account-Id": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
	"Forwarded": true, "X-Real-Ip": true,
}

// ForwardedRequestHeader reports whether a caller's request header goes on
// to the app. name is in canonical form (http.CanonicalHeaderKey).
func ForwardedRequestHeader(name string) bool {
	if deniedRequestHeaders[name] {
		return false
	}
	lower := strings.ToLower(name)
	return !strings.HasPrefix(lower, "x-forwarded-") && !strings.HasPrefix(lower, "linkd-proxy-")
}

// Response headers of an app that never reach the caller: hop-by-hop ones,
// cookies the app would set on linkd's origin, and CORS grants that are the
// app's, not linkd's.
func ForwardedResponseHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Set-Cookie", "Set-Cookie2", "Content-Length":
		return false
	}
	return !strings.HasPrefix(strings.ToLower(name), "access-control-")
}

// AppRequest is a call to an app's API, as the caller of the proxy (or a
// workflow step) asks for it: everything but where it goes and how it is
// authenticated, which come from the catalog and the connection.
type AppRequest struct {
	Method string
	// Path is below the app's base URL, escaped as received ("/v1/items").
	Path string
	// RawQuery is sent as is (without linkd's own parameters).
	RawQuery string
	// Header is the caller's; what ForwardedRequestHeader refuses is
	// dropped.
	Header http.Header
	// Body is nil for none; ContentLength is -1 when unknown.
	Body          io.Reader
	ContentLength int64
	// Retries is how many times a failed attempt may be repeated when the
	// call is safe to repeat; -1 for the caller's default.
	Retries int
}

// AppResponse is the app's answer, its body still to be read (and closed).
type AppResponse struct {
	*http.Response
	// Attempts is how many requests were sent to the app.
	Attempts int
}

// AppCaller calls an app's API as one linked account: the proxy route,
// and the engine that workflow steps will call apps with.
type AppCaller interface {
	Call(ctx context.Context, t Tenant, accountID, slug string, req *AppRequest) (*AppResponse, error)
}
