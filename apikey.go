package linkd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// APIKey is an organization's credential for one environment. The secret is
// shown once at creation; only its SHA-256 is stored, which is enough for a
// 256-bit random secret (no password stretching is needed).
type APIKey struct {
	ID         string
	OrgID      string
	Env        Environment
	Name       string
	Prefix     string // the first characters of the secret, to recognise it
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Tenant returns the tenant the key acts for.
func (k *APIKey) Tenant() Tenant { return Tenant{OrgID: k.OrgID, Env: k.Env} }

// NewAPIKeySecret returns a new secret for env ("tk_…" for test, "pk_…" for
// production, as the compatible API does) and its hash.
func NewAPIKeySecret(env Environment) (secret string, hash []byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand panics on error since Go 1.24)
	prefix := "tk_"
	if env == EnvProduction {
		prefix = "pk_"
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashAPIKey(secret)
}

// HashAPIKey returns the stored form of a secret.
func HashAPIKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// APIKeyPrefix is the displayable start of a secret.
func APIKeyPrefix(secret string) string {
	if len(secret) > 10 {
		return secret[:10]
	}
	return secret
}

// LooksLikeAPIKey reports whether s has the shape of a secret, so that
// obviously wrong input is refused without a database lookup.
func LooksLikeAPIKey(s string) bool {
	return len(s) == 46 && (strings.HasPrefix(s, "tk_") || strings.HasPrefix(s, "pk_"))
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	// CreateAPIKey inserts k with the hash of its secret, and ev (when not
	// nil) in the key's tenant, in one transaction.
	CreateAPIKey(ctx context.Context, k *APIKey, hash []byte, ev *AuditEntry) error
	// APIKeyByHash finds a key, revoked or not, by the hash of its secret. It
	// is the one lookup not scoped by tenant: it is how the tenant is found.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys lists an organization's keys, newest first.
	ListAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked and writes ev (when not nil) in the
	// key's tenant, in one transaction; ENOTFOUND if the organization has no
	// such key. Revoking twice is not an error (and writes ev again).
	RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time, ev *AuditEntry) error
	// TouchAPIKey records that the key was used at the given time.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// API key audit actions. Keys are an organization's credentials: who made
// or revoked one, and when, belongs in the audit log (never the secret).
const (
	AuditAPIKeyCreate = "api_key.create"
	AuditAPIKeyRevoke = "api_key.revoke"
)

// APIKeyAudit returns the audit entry of creating or revoking k.
func APIKeyAudit(k *APIKey, action, actor string, at time.Time) *AuditEntry {
	return &AuditEntry{ID: NewID(), Time: at, Actor: actor, Action: action,
		Details: map[string]any{"api_key_id": k.ID, "name": k.Name, "prefix": k.Prefix}}
}
