package http

import (
	"net/http"
	"time"

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
	var id string
	switch {
	case req.RefreshToken != "":
		old, err := s.refreshSession(r, req.RefreshToken)
		if err != nil {
			return err
		}
		id = old.AccountID
	case req.LinkedAccountID != nil:
		id = *req.LinkedAccountID
	case req.AccountID != nil:
		id = *req.AccountID
	}
	if id == "" {
		return &linkd.Error{Code: linkd.EINVALID, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID", Message: "linked_account_id is required"}
	}
	if err := linkd.ValidateAccountID(id); err != nil {
		return err
	}
	noteAccount(r, id)
	now := s.now().UTC().Truncate(time.Microsecond)
	token, refresh, hash, refreshHash := linkd.NewSessionSecrets()
	st := &linkd.SessionToken{ID: linkd.NewID(), ExpiresAt: now.Add(s.sessionTTL), RefreshExpiresAt: now.Add(s.sessionTTL * linkd.RefreshTTLFactor), CreatedAt: now}
	if err := s.store.CreateSessionToken(r.Context(), t, id, st, hash, refreshHash); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionTokenJSON{Token: token, RefreshToken: refresh,
		ExpiresIn: int64(s.sessionTTL.Seconds()), RefreshExpiresIn: int64((s.sessionTTL * linkd.RefreshTTLFactor).Seconds())})
	return nil
}

// refreshSession checks a refresh token of the caller's tenant and revokes
// its pair: a refresh token is good once.
func (s *Server) refreshSession(r *http.Request, refresh string) (*linkd.SessionToken, error) {
	invalid := &linkd.Error{Code: linkd.EINVALID, Field: "refresh_token", Type: "INVALID_TOKEN", Message: "Invalid or expired refresh token"}
	if !linkd.LooksLikeSessionToken(refresh, true) {
		return nil, invalid
	}
	st, err := s.store.SessionByHash(r.Context(), linkd.HashAPIKey(refresh), true)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return nil, invalid
	} else if err != nil {
		return nil, err
	}
	if st.Tenant() != tenant(r) || st.RevokedAt != nil || !s.now().Before(st.RefreshExpiresAt) {
		return nil, invalid
	}
	live, err := s.store.RevokeSessionToken(r.Context(), st.ID, s.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, invalid // spent by a concurrent refresh
	}
	return st, nil
}

// handleRevokeSession revokes the session token the request carries.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	st := callerFrom(r.Context()).session
	live, err := s.store.RevokeSessionToken(r.Context(), st.ID, s.now().UTC().Truncate(time.Microsecond))
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
