package dashboard

import (
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
)

type settingsKeysData struct {
	Env    linkd.Environment
	Keys   []*linkd.APIKey // the environment's keys, newest first
	Active int
	// The create form as typed, with its error.
	Name  string
	Error string
}

// settingsKeys lists the API keys of the session's tenant: the store lists an
// organization's keys, and a key belongs to one environment.
func (h *Handler) settingsKeys(r *http.Request) ([]*linkd.APIKey, error) {
	t := current(r).Tenant()
	all, err := h.store.ListAPIKeys(r.Context(), t.OrgID)
	if err != nil {
		return nil, err
	}
	var out []*linkd.APIKey
	for _, k := range all {
		if k.Env == t.Env {
			out = append(out, k)
		}
	}
	return out, nil
}

// handleAPIKeys lists the environment's API keys with the form to create
// one.
func (h *Handler) handleAPIKeys(w http.ResponseWriter, r *http.Request) error {
	return h.renderAPIKeys(w, r, http.StatusOK, settingsKeysData{})
}

func (h *Handler) renderAPIKeys(w http.ResponseWriter, r *http.Request, status int, data settingsKeysData) error {
	keys, err := h.settingsKeys(r)
	if err != nil {
		return err
	}
	data.Env, data.Keys = current(r).Tenant().Env, keys
	for _, k := range keys {
		if k.RevokedAt == nil {
			data.Active++
		}
	}
	return h.render(w, r, status, "settings_api_keys", settingsPage("API keys", data))
}

type settingsKeyCreatedData struct {
	Key     *linkd.APIKey
	Secret  string
	APIBase string // where the API is, for the example
}

// settingsAPIBase is the API's address: the configured public URL, or this
// request's host (the API and the dashboard are served together).
func (h *Handler) settingsAPIBase(r *http.Request) string {
	if h.cfg.Connections != nil && h.cfg.Connections.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.Connections.PublicURL, "/")
	}
	scheme := "http"
	if h.https(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleCreateAPIKey creates a key in the session's environment and shows
// its secret once, in this response: never in a URL, a cookie, a redirect
// or a log. Only its hash is stored; the audit entry names the key and the
// user, never the secret.
func (h *Handler) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	c := current(r)
	t := c.Tenant()
	k, secret, err := h.cfg.Services.APIKeys.Create(r.Context(), t.OrgID, t.Env, r.PostForm.Get("name"), c.Actor())
	if linkd.ErrorCode(err) == linkd.EINVALID {
		return h.renderAPIKeys(w, r, http.StatusBadRequest, settingsKeysData{Name: r.PostForm.Get("name"), Error: linkd.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	h.logger.InfoContext(r.Context(), "api key created", "api_key_id", k.ID, "org_id", t.OrgID, "environment", t.Env, "actor", c.Actor())
	// render sets Cache-Control: no-store: the page is not kept anywhere.
	return h.render(w, r, http.StatusCreated, "settings_api_key_created", settingsPage("API key created", settingsKeyCreatedData{Key: k, Secret: secret, APIBase: h.settingsAPIBase(r)}))
}

type settingsRevokeKeyData struct {
	Key *linkd.APIKey
}

// handleRevokeAPIKey asks to confirm (GET) and revokes (POST) one of the
// environment's keys. The API looks keys up on every request, so the key
// stops working at once on every instance.
func (h *Handler) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	keys, err := h.settingsKeys(r)
	if err != nil {
		return err
	}
	var key *linkd.APIKey
	for _, k := range keys {
		if k.ID == id {
			key = k
		}
	}
	if key == nil {
		return linkd.Errorf(linkd.ENOTFOUND, "There is no API key %s in the %s environment.", id, c.Session.Env)
	}
	if r.Method == http.MethodGet {
		return h.render(w, r, http.StatusOK, "settings_api_key_revoke", settingsPage("Revoke API key", settingsRevokeKeyData{Key: key}))
	}
	if key.RevokedAt == nil {
		if _, err := h.cfg.Services.APIKeys.Revoke(r.Context(), c.Session.OrgID, c.Session.Env, key.ID, c.Actor()); err != nil {
			return err
		}
		h.logger.InfoContext(r.Context(), "api key revoked", "api_key_id", key.ID, "org_id", key.OrgID, "environment", key.Env, "actor", c.Actor())
	}
	name := "“" + key.Name + "” (" + key.Prefix + "…)"
	if key.Name == "" {
		name = key.Prefix + "…"
	}
	h.redirectNotice(w, r, "/settings/api-keys", "API key "+name+" revoked. Requests with it are refused from now on.")
	return nil
}
