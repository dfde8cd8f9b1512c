package http

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// appJSON is an application as the compatible API shows it to one linked
// account. Deprecated fields the SDK still reads (auth_type, auth_input_map,
// connected, reauth_required) are kept.
type appJSON struct {
	Name              string                        `json:"name"`
	Icon              string                        `json:"icon"`
	Description       string                        `json:"description"`
	Type              string                        `json:"type"`
	Slug              string                        `json:"slug"`
	AppID             string                        `json:"app_id"`
	Tags              []string                      `json:"tags"`
	Version           map[string]string             `json:"version"`
	Ecosystem         bool                          `json:"ecosystem"`
	AuthType          string                        `json:"auth_type"`
	AuthTypeOptions   map[string][]linkd.InputField `json:"auth_type_options"`
	AuthInputMap      []linkd.InputField            `json:"auth_input_map"`
	Connected         *bool                         `json:"connected,omitempty"`
	ConnectedAccounts []connectedAccountJSON        `json:"connected_accounts,omitempty"`
	ReauthRequired    *bool                         `json:"reauth_required,omitempty"`
	Workflows         []linkd.Workflow              `json:"workflows,omitempty"`
}

type connectedAccountJSON struct {
	Identifier  string `json:"identifier"`
	ConnectedAt string `json:"connectedAt"`
	Status      string `json:"status"`
	AuthType    string `json:"auth_type"`
}

func renderApp(v connect.AppView) *appJSON {
	a := v.App
	inputs := a.AuthInputs
	if inputs == nil {
		inputs = []linkd.InputField{}
	}
	out := &appJSON{Name: a.Name, Icon: a.IconURL, Description: a.Description, Type: a.Slug, Slug: a.Slug, AppID: a.Slug,
		Tags: a.Tags, Version: map[string]string{"_v": "1.0.0"}, AuthType: a.AuthType,
		AuthTypeOptions: map[string][]linkd.InputField{linkd.AuthKeyBased: {}, linkd.AuthOAuth2: {}},
		AuthInputMap:    inputs, Workflows: a.Workflows}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	out.AuthTypeOptions[a.AuthType] = inputs
	// As in the compatible API, connected* appear once the app is connected.
	if len(v.Connections) > 0 {
		connected, reauth := true, false
		for _, c := range v.Connections {
			out.ConnectedAccounts = append(out.ConnectedAccounts, connectedAccountJSON{Identifier: c.Identifier,
				ConnectedAt: wireTime(c.CreatedAt), Status: c.Status, AuthType: c.AuthType})
			reauth = reauth || c.Status == linkd.ConnExpired
		}
		out.Connected, out.ReauthRequired = &connected, &reauth
	}
	return out
}

// accountFor returns the linked account a request acts on: a session
// token's own, or the linked_account_id header (which wins) or query
// parameter that goes with an API key.
func accountFor(r *http.Request) (string, error) {
	if own := sessionAccount(r); own != "" {
		return own, nil
	}
	id := r.Header.Get("linked_account_id")
	if id == "" {
		id = r.URL.Query().Get("linked_account_id")
	}
	if id == "" {
		return "", &linkd.Error{Code: linkd.EINVALID, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID", Message: "linked_account_id is required"}
	}
	noteAccount(r, id)
	return id, linkd.ValidateAccountID(id)
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request) error {
	return s.writeApps(w, r, "")
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request) error {
	return s.writeApps(w, r, r.PathValue("slug"))
}

func (s *Server) writeApps(w http.ResponseWriter, r *http.Request, slug string) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	views, err := s.connections.AccountApps(r.Context(), tenant(r), id, slug)
	if err != nil {
		return err
	}
	if slug != "" {
		writeJSON(w, http.StatusOK, renderApp(views[0]))
		return nil
	}
	q := r.URL.Query()
	out := make([]*appJSON, 0, len(views))
	for _, v := range views {
		if t := q.Get("auth_type"); t != "" && v.App.AuthType != t {
			continue
		}
		if tag := q.Get("tags"); tag != "" && !hasTag(v.App.Tags, tag) {
			continue
		}
		out = append(out, renderApp(v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func hasTag(tags []string, want string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, want) {
			return true
		}
	}
	return false
}

// handleSaveKeys connects a key-based app: the body holds the app's fields.
func (s *Server) handleSaveKeys(w http.ResponseWriter, r *http.Request, body []byte) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	var values map[string]json.RawMessage
	if err := decodeJSON(body, &values); err != nil {
		return err
	}
	if _, err := s.connections.SaveKeys(r.Context(), tenant(r), actor(r), id, r.PathValue("slug"), values); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// handleDisconnect removes the account's connection(s) to an app and
// answers with the account, as the compatible API does. Disconnecting an
// app that is not connected changes nothing and succeeds.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	authType := r.URL.Query().Get("auth_type")
	switch authType {
	case "", linkd.AuthOAuth2, linkd.AuthKeyBased:
	default:
		return linkd.FieldError("auth_type", "auth_type must be oauth2 or keybased")
	}
	t := tenant(r)
	if _, err := s.connections.Disconnect(r.Context(), t, actor(r), id, r.PathValue("slug"), authType); err != nil {
		return err
	}
	return s.writeAccount(w, r, t, id)
}

type appSettingsJSON struct {
	Slug            string `json:"slug"`
	Enabled         bool   `json:"enabled"`
	Available       bool   `json:"available"`
	ClientID        string `json:"client_id"`
	HasClientSecret bool   `json:"has_client_secret"`
	RedirectURL     string `json:"redirect_url"`
}

func (s *Server) renderSettings(t linkd.Tenant, app *linkd.App, set *linkd.AppSettings) appSettingsJSON {
	out := appSettingsJSON{Slug: app.Slug, Enabled: app.EnabledByDefault && t.Env == linkd.EnvTest, RedirectURL: s.connections.RedirectURL()}
	if set != nil {
		out.Enabled, out.ClientID, out.HasClientSecret = set.Enabled, set.ClientID, len(set.ClientSecret) > 0
	}
	out.Available = connect.Available(t, app, set)
	return out
}

func (s *Server) handleGetAppSettings(w http.ResponseWriter, r *http.Request) error {
	app, ok := s.connections.Catalog.App(r.PathValue("slug"))
	if !ok {
		return linkd.AppNotFound(r.PathValue("slug"))
	}
	t := tenant(r)
	all, err := s.store.AppSettings(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderSettings(t, app, all[app.Slug]))
	return nil
}

// handlePutAppSettings enables an app for the key's environment and sets its
// OAuth client credentials; the secret is write-only.
func (s *Server) handlePutAppSettings(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req struct {
		Enabled      *bool   `json:"enabled"`
		ClientID     *string `json:"client_id"`
		ClientSecret *string `json:"client_secret"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t := tenant(r)
	set, err := s.connections.PutSettings(r.Context(), t, actor(r), r.PathValue("slug"),
		connect.SettingsInput{Enabled: req.Enabled, ClientID: req.ClientID, ClientSecret: req.ClientSecret})
	if err != nil {
		return err
	}
	app, _ := s.connections.Catalog.App(set.Slug)
	writeJSON(w, http.StatusOK, s.renderSettings(t, app, set))
	return nil
}
