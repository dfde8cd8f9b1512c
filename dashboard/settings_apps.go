package dashboard

import (
	"errors"
	"hash/fnv"
	"net/http"
	"strings"
	"unicode"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// settingsAppRow is one catalog app as the tenant set it up, and its
// credentials form as typed (never the secret).
type settingsAppRow struct {
	App       *linkd.App
	OAuth     bool
	Enabled   bool
	Available bool
	ClientID  string
	HasSecret bool
	Initials  string
	Tone      int // the letter tile's colour, stable per app
	// Form state after a failed save.
	Errors map[string]string
	Error  string
	Open   bool // the credentials form starts open
}

// Status is the app's state in one word or three, for its badge.
func (a settingsAppRow) Status() string {
	switch {
	case a.Available:
		return "Available"
	case a.Enabled:
		return "Needs credentials"
	}
	return "Off"
}

type settingsAppsData struct {
	Env         linkd.Environment
	Apps        []settingsAppRow
	RedirectURL string
	Available   int
}

// settingsApps returns the catalog's apps with the tenant's settings, as the
// API's GET …/application/{slug}/settings reports them.
func (h *Handler) settingsApps(r *http.Request) (*settingsAppsData, error) {
	conns := h.cfg.Connections
	if conns == nil || conns.Catalog == nil {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "This server has no application catalog.")
	}
	t := current(r).Tenant()
	all, err := h.store.AppSettings(r.Context(), t)
	if err != nil {
		return nil, err
	}
	d := &settingsAppsData{Env: t.Env, RedirectURL: conns.RedirectURL()}
	for _, app := range conns.Catalog.Apps() {
		set := all[app.Slug]
		row := settingsAppRow{App: app, OAuth: app.AuthType == linkd.AuthOAuth2, Enabled: app.EnabledByDefault && t.Env == linkd.EnvTest,
			Available: connect.Available(t, app, set), Initials: settingsInitials(app.Name), Tone: settingsTone(app.Slug)}
		if set != nil {
			row.Enabled, row.ClientID, row.HasSecret = set.Enabled, set.ClientID, len(set.ClientSecret) > 0
		}
		// An enabled OAuth app without credentials shows its form open: it
		// is the next thing to do.
		row.Open = row.OAuth && row.Enabled && !row.Available
		if row.Available {
			d.Available++
		}
		d.Apps = append(d.Apps, row)
	}
	return d, nil
}

// settingsInitials are an app's letter tile: the first letters of its name's
// first two words.
func settingsInitials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, c := range w {
			if unicode.IsLetter(c) || unicode.IsDigit(c) {
				out = append(out, unicode.ToUpper(c))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// settingsTone picks one of the stylesheet's tile colours for a slug.
func settingsTone(slug string) int {
	f := fnv.New32a()
	f.Write([]byte(slug))
	return int(f.Sum32() % 6)
}

// handleApps lists every catalog app with its state in this environment.
func (h *Handler) handleApps(w http.ResponseWriter, r *http.Request) error {
	d, err := h.settingsApps(r)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "settings_apps", settingsPage("Applications", d))
}

// settingsCatalogApp returns the app the path names; ENOTFOUND otherwise.
func (h *Handler) settingsCatalogApp(r *http.Request) (*linkd.App, error) {
	if h.cfg.Connections != nil && h.cfg.Connections.Catalog != nil {
		if app, ok := h.cfg.Connections.Catalog.App(r.PathValue("slug")); ok {
			return app, nil
		}
	}
	return nil, linkd.Errorf(linkd.ENOTFOUND, "There is no application %q.", r.PathValue("slug"))
}

// settingsAppAnchor is the app's row on the list, to come back to.
func settingsAppAnchor(slug string) string { return "/settings/apps#app-" + slug }

// handleEnableApp lets the tenant's linked accounts connect an app, through
// the same PutSettings as the API (validation and audit entry included).
func (h *Handler) handleEnableApp(w http.ResponseWriter, r *http.Request) error {
	app, err := h.settingsCatalogApp(r)
	if err != nil {
		return err
	}
	c := current(r)
	on := true
	set, err := h.cfg.Connections.PutSettings(r.Context(), c.Tenant(), c.Actor(), app.Slug, connect.SettingsInput{Enabled: &on})
	if err != nil {
		return err
	}
	msg := app.Name + " is enabled in the " + string(c.Session.Env) + " environment."
	if !connect.Available(c.Tenant(), app, set) {
		msg += " Add its OAuth client credentials to make it available to linked accounts."
	}
	h.redirectNotice(w, r, settingsAppAnchor(app.Slug), msg)
	return nil
}

type settingsDisableAppData struct {
	App   *linkd.App
	OAuth bool
}

// handleDisableApp asks to confirm (GET) and disables (POST) an app. The
// stored credentials are kept, so enabling it again restores it as it was.
func (h *Handler) handleDisableApp(w http.ResponseWriter, r *http.Request) error {
	app, err := h.settingsCatalogApp(r)
	if err != nil {
		return err
	}
	c := current(r)
	if r.Method == http.MethodGet {
		return h.render(w, r, http.StatusOK, "settings_app_disable", settingsPage("Disable "+app.Name,
			settingsDisableAppData{App: app, OAuth: app.AuthType == linkd.AuthOAuth2}))
	}
	off := false
	if _, err := h.cfg.Connections.PutSettings(r.Context(), c.Tenant(), c.Actor(), app.Slug, connect.SettingsInput{Enabled: &off}); err != nil {
		return err
	}
	h.redirectNotice(w, r, settingsAppAnchor(app.Slug), app.Name+" is disabled in the "+string(c.Session.Env)+" environment.")
	return nil
}

// handleAppCredentials sets an OAuth app's client id and, when one is
// typed, its client secret (an empty field keeps the stored secret; the
// secret is never shown back, not even after an error).
func (h *Handler) handleAppCredentials(w http.ResponseWriter, r *http.Request) error {
	app, err := h.settingsCatalogApp(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	c := current(r)
	id := strings.TrimSpace(r.PostForm.Get("client_id"))
	secret := r.PostForm.Get("client_secret")
	fail := func(status int, errs map[string]string, msg string) error {
		d, err := h.settingsApps(r)
		if err != nil {
			return err
		}
		for i := range d.Apps {
			if row := &d.Apps[i]; row.App.Slug == app.Slug {
				row.ClientID, row.Errors, row.Error, row.Open = r.PostForm.Get("client_id"), errs, msg, true
			}
		}
		return h.render(w, r, status, "settings_apps", settingsPage("Applications", d))
	}
	if app.AuthType != linkd.AuthOAuth2 {
		return linkd.Errorf(linkd.EINVALID, "%s is key-based: each linked account enters its own credentials; there are no client credentials to set.", app.Name)
	}
	all, err := h.store.AppSettings(r.Context(), c.Tenant())
	if err != nil {
		return err
	}
	hasSecret := all[app.Slug] != nil && len(all[app.Slug].ClientSecret) > 0
	errs := map[string]string{}
	if id == "" {
		errs["client_id"] = "Enter the client ID the provider gave your OAuth app."
	}
	if secret == "" && !hasSecret {
		errs["client_secret"] = "Enter the client secret the provider gave your OAuth app."
	}
	if strings.TrimSpace(secret) != secret {
		errs["client_secret"] = "The client secret starts or ends with a space; paste it again without it."
	}
	if len(errs) > 0 {
		return fail(http.StatusBadRequest, errs, "")
	}
	in := connect.SettingsInput{ClientID: &id}
	if secret != "" {
		in.ClientSecret = &secret
	}
	enable := r.PostForm.Get("action") == "enable"
	if enable {
		on := true
		in.Enabled = &on
	}
	set, err := h.cfg.Connections.PutSettings(r.Context(), c.Tenant(), c.Actor(), app.Slug, in)
	if err != nil {
		var e *linkd.Error
		if !errors.As(err, &e) || e.Code == linkd.EINTERNAL {
			return err
		}
		if e.Field == "client_id" || e.Field == "client_secret" {
			return fail(http.StatusBadRequest, map[string]string{e.Field: e.Message}, "")
		}
		return fail(http.StatusBadRequest, nil, e.Message)
	}
	msg := app.Name + "'s client credentials are saved."
	if enable && connect.Available(c.Tenant(), app, set) {
		msg = app.Name + " is enabled in the " + string(c.Session.Env) + " environment, with its client credentials."
	}
	h.redirectNotice(w, r, settingsAppAnchor(app.Slug), msg)
	return nil
}
