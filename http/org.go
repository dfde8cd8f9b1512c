package http

import (
	"net/http"
	"strconv"

	"github.com/linkd-dev/linkd"
)

// orgBasicsJSON is GET /api/v3/org/basics. The compatible API does not
// document the shape (the browser SDK reads it privately), so linkd's is
// its own and kept stable: the organization, environment and linked account
// the token acts for, and where the browser may call from.
type orgBasicsJSON struct {
	OrgID         string `json:"org_id"`
	Name          string `json:"name"`
	Environment   string `json:"environment"`
	LinkedAccount struct {
		LinkedAccountID string `json:"linked_account_id"`
		Name            string `json:"name"`
	} `json:"linked_account"`
	AllowedOrigins []string `json:"allowed_origins"`
}

// handleOrgBasics describes the session token's organization and account.
func (s *Server) handleOrgBasics(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	org, err := s.store.OrgByID(r.Context(), t.OrgID)
	if err != nil {
		return err
	}
	acct, err := s.store.FindAccount(r.Context(), t, sessionAccount(r))
	if err != nil {
		return err
	}
	origins, err := s.store.AllowedOrigins(r.Context(), t)
	if err != nil {
		return err
	}
	out := orgBasicsJSON{OrgID: org.ID, Name: org.Name, Environment: string(t.Env), AllowedOrigins: origins}
	out.LinkedAccount.LinkedAccountID, out.LinkedAccount.Name = acct.AccountID, acct.Name
	writeJSON(w, http.StatusOK, out)
	return nil
}

// allowedOriginsJSON is the tenant's list, and the origins allowed without
// being listed (linkd's own; loopback on any port in the test environment),
// so that what the server does is never a surprise.
type allowedOriginsJSON struct {
	AllowedOrigins  []string `json:"allowed_origins"`
	ImplicitOrigins []string `json:"implicit_origins"`
}

func (s *Server) renderOrigins(t linkd.Tenant, origins []string) allowedOriginsJSON {
	out := allowedOriginsJSON{AllowedOrigins: origins, ImplicitOrigins: []string{}}
	if o := s.publicOrigin(); o != "" {
		out.ImplicitOrigins = append(out.ImplicitOrigins, o)
	}
	if t.Env == linkd.EnvTest {
		out.ImplicitOrigins = append(out.ImplicitOrigins, linkd.LoopbackSources...)
	}
	return out
}

func (s *Server) handleGetAllowedOrigins(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	origins, err := s.store.AllowedOrigins(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderOrigins(t, origins))
	return nil
}

// handlePutAllowedOrigins replaces the tenant's allowed origins:
// {"allowed_origins": ["https://app.example.com", …]}. Each is normalized
// (lower case, no default port); duplicates collapse.
func (s *Server) handlePutAllowedOrigins(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		AllowedOrigins *[]string `json:"allowed_origins"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.AllowedOrigins == nil {
		return linkd.FieldError("allowed_origins", "allowed_origins is required (an empty list allows no origin)")
	}
	t := tenant(r)
	origins, _, err := s.links.PutAllowedOrigins(r.Context(), t, actor(r), *req.AllowedOrigins,
		func(i int) string { return "allowed_origins[" + strconv.Itoa(i) + "]" })
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderOrigins(t, origins))
	return nil
}

// orgSettingsJSON is GET/PUT /api/v2/public/org/settings: the environment's
// choices about what its customers' browsers (session tokens) may do.
type orgSettingsJSON struct {
	SessionTokenMayRename bool    `json:"session_token_may_rename"`
	UpdatedAt             *string `json:"updated_at"`
}

func renderSettings(ts *linkd.TenantSettings) orgSettingsJSON {
	out := orgSettingsJSON{SessionTokenMayRename: ts.SessionTokenMayRename}
	if !ts.UpdatedAt.IsZero() {
		u := wireTime(ts.UpdatedAt)
		out.UpdatedAt = &u
	}
	return out
}

func (s *Server) handleGetOrgSettings(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.settings.Get(r.Context(), tenant(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderSettings(ts))
	return nil
}

// handlePutOrgSettings changes the settings present in the body
// ({"session_token_may_rename": true}); absent ones stay as they are.
func (s *Server) handlePutOrgSettings(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		SessionTokenMayRename *bool `json:"session_token_may_rename"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	ts, err := s.settings.Update(r.Context(), tenant(r), actor(r), linkd.TenantSettingsUpdate{SessionTokenMayRename: req.SessionTokenMayRename})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderSettings(ts))
	return nil
}
