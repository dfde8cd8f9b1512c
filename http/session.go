package http

import (
	"net/http"

	"github.com/linkd-dev/linkd"
)

type sessionTokenJSON struct {
	Token            string `json:"token"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

// handleSessionToken issues a session token for one linked account (x-api-key
// with {linked_account_id}), or trades a refresh token for a new pair
// ({refresh_token}, an extension), revoking the old pair.
func (s *Server) handleSessionToken(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		LinkedAccountID *string `json:"linked_account_id"`
		AccountID       *string `json:"account_id"`
		RefreshToken    string  `json:"refresh_token"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t := tenant(r)
	var issued *linkd.IssuedSession
	var err error
	switch {
	case req.RefreshToken != "":
		issued, err = s.sessions.Refresh(r.Context(), t, req.RefreshToken)
	case req.LinkedAccountID != nil && *req.LinkedAccountID != "":
		issued, err = s.sessions.Issue(r.Context(), t, *req.LinkedAccountID)
	case req.AccountID != nil && *req.AccountID != "":
		issued, err = s.sessions.Issue(r.Context(), t, *req.AccountID)
	default:
		return &linkd.Error{Code: linkd.EINVALID, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID", Message: "linked_account_id is required"}
	}
	if err != nil {
		return err
	}
	noteAccount(r, issued.AccountID)
	writeJSON(w, http.StatusOK, sessionTokenJSON{Token: issued.Token, RefreshToken: issued.RefreshToken,
		ExpiresIn: int64(issued.TTL.Seconds()), RefreshExpiresIn: int64(issued.RefreshTTL.Seconds())})
	return nil
}

// handleRevokeSession revokes the session token the request carries.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	st := callerFrom(r.Context()).session
	live, err := s.sessions.Revoke(r.Context(), st)
	if err != nil {
		return err
	}
	n := 0
	if live {
		n = 1
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "revoked_count": n})
	return nil
}

// handleActiveAccount returns the linked account a session token acts for.
func (s *Server) handleActiveAccount(w http.ResponseWriter, r *http.Request) error {
	return s.writeAccount(w, r, tenant(r), sessionAccount(r))
}
