package linkd

import "time"

// Audit actions about connections that change no data.
const (
	// AuditCredentialsRead records that an API key read a connection's
	// credentials: who, which account and app, never the values.
	AuditCredentialsRead = "connection.credentials_read"
)

// Credentials are what the product's backend needs to call an app as one
// linked account: a usable access token for OAuth apps, the key fields for
// key-based apps. Never the refresh token.
type Credentials struct {
	AuthType    string
	AccessToken string
	TokenType   string
	// ExpiresAt is when AccessToken expires; nil when it does not say.
	ExpiresAt *time.Time
	Scopes    []string
	// Fields are a key-based app's inputs (an API key, a region).
	Fields map[string]string
	// Metadata are the token-response fields the catalog keeps
	// (oauth2.metadata), such as Salesforce's instance_url.
	Metadata map[string]string
}
