package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// credentialsJSON is a connection's credentials as the backend reads them.
// The refresh token is never among them.
type credentialsJSON struct {
	AuthType    string            `json:"auth_type"`
	AccessToken string            `json:"access_token,omitempty"`
	TokenType   string            `json:"token_type,omitempty"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	Scopes      []string          `json:"scopes"`
	Fields      map[string]string `json:"fields,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// handleCredentials answers a connection's credentials, refreshed first
// when the token is about to expire (or when force_refresh=true). API keys
// only: a browser must never hold provider tokens.
func (s *Server) handleCredentials(w http.ResponseWriter, r *http.Request) error {
	force := false
	if v := r.URL.Query().Get("force_refresh"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return linkd.FieldError("force_refresh", "force_refresh must be true or false, not %q", v)
		}
		force = b
	}
	c, err := s.connections.Credentials(r.Context(), tenant(r), r.PathValue("linked_account_id"), r.PathValue("slug"),
		connect.CredentialsOptions{Actor: actor(r), Force: force})
	if err != nil {
		return err
	}
	out := credentialsJSON{AuthType: c.AuthType, AccessToken: c.AccessToken, TokenType: c.TokenType, ExpiresAt: c.ExpiresAt,
		Scopes: c.Scopes, Fields: c.Fields, Metadata: c.Metadata}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, out)
	return nil
}
