package linkd

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxAPIKeyNameLen bounds an API key's name, in characters.
const MaxAPIKeyNameLen = 100

// APIKeyService creates and revokes API keys, with one set of rules for the
// CLI and the dashboard.
type APIKeyService struct {
	store APIKeyStore
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewAPIKeyService returns the service over store.
func NewAPIKeyService(store APIKeyStore) *APIKeyService { return &APIKeyService{store: store} }

func (s *APIKeyService) now() time.Time { return NowOf(s.Now) }

// ValidateAPIKeyName checks a key's name: required, so that keys can be
// told apart later; at most MaxAPIKeyNameLen characters; no control
// characters (the name is shown in lists and logs).
func ValidateAPIKeyName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return FieldError("name", "Give the key a name, so you can tell it from the others later.")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxAPIKeyNameLen:
		return FieldError("name", "Use at most %d characters.", MaxAPIKeyNameLen)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return FieldError("name", "The name must not contain control characters.")
	}
	return nil
}

// Create makes a key for the organization's environment and returns it
// with its secret, which is shown this once: only its hash is stored. The
// audit entry names the key and the actor, never the secret.
func (s *APIKeyService) Create(ctx context.Context, orgID string, env Environment, name, actor string) (*APIKey, string, error) {
	name = strings.TrimSpace(name)
	if err := ValidateAPIKeyName(name); err != nil {
		return nil, "", err
	}
	if _, err := ParseEnvironment(string(env)); err != nil {
		return nil, "", err
	}
	secret, hash := NewAPIKeySecret(env)
	k := &APIKey{ID: NewID(), OrgID: orgID, Env: env, Name: name, Prefix: APIKeyPrefix(secret), CreatedAt: s.now()}
	if err := s.store.CreateAPIKey(ctx, k, hash, APIKeyAudit(k, AuditAPIKeyCreate, actor, k.CreatedAt)); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// Revoke revokes one of the organization's keys (in env, unless env is
// empty); ENOTFOUND when it has none with that id. The key stops working
// at once on every instance, since the API looks keys up on every request.
// Revoking a revoked key changes nothing.
func (s *APIKeyService) Revoke(ctx context.Context, orgID string, env Environment, id, actor string) (*APIKey, error) {
	keys, err := s.store.ListAPIKeys(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID != id || env != "" && k.Env != env {
			continue
		}
		if k.RevokedAt != nil {
			return k, nil
		}
		now := s.now()
		if err := s.store.RevokeAPIKey(ctx, orgID, k.ID, now, APIKeyAudit(k, AuditAPIKeyRevoke, actor, now)); err != nil {
			return nil, err
		}
		k.RevokedAt = &now
		return k, nil
	}
	if env != "" {
		return nil, Errorf(ENOTFOUND, "There is no API key %s in the %s environment.", id, env)
	}
	return nil, Errorf(ENOTFOUND, "There is no API key %s.", id)
}

// Touch records that k was used at now, for the "last used" column.
func (s *APIKeyService) Touch(ctx context.Context, k *APIKey, now time.Time) error {
	return s.store.TouchAPIKey(ctx, k.ID, StoreTime(now))
}
