package dashboard

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
)

type settingsOriginsData struct {
	Env      linkd.Environment
	Text     string   // the textarea, as saved or as typed
	Saved    []string // the stored list
	Implicit []string // allowed without being listed
	Loopback bool     // the test environment allows loopback origins
	Errors   []string // one per bad line, naming it
	// The confirmation of a change that removes origins.
	Removed []string
	Added   []string
}

// settingsImplicitOrigins are what the API calls implicit_origins: linkd's
// own origin (the test environment's loopback origins are said in words).
func (h *Handler) settingsImplicitOrigins() []string {
	if h.cfg.Connections != nil {
		if o := linkd.OriginOf(h.cfg.Connections.PublicURL); o != "" {
			return []string{o}
		}
	}
	return nil
}

// parseOriginLines reads the textarea: one origin per line, blank lines
// ignored. Each is normalized like the API's PUT …/org/allowed-origins
// does; errors name the line. The result is sorted, without duplicates.
func parseOriginLines(text string) ([]string, []string) {
	origins := []string{}
	var errs []string
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		o, err := linkd.NormalizeOrigin(fmt.Sprintf("Line %d", i+1), line)
		if err != nil {
			errs = append(errs, linkd.ErrorMessage(err))
			continue
		}
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	if len(errs) == 0 && len(origins) > linkd.MaxAllowedOrigins {
		errs = append(errs, fmt.Sprintf("There are %d origins; at most %d are allowed.", len(origins), linkd.MaxAllowedOrigins))
	}
	slices.Sort(origins)
	return origins, errs
}

// handleOrigins shows (GET) and replaces (POST) the tenant's allowed
// origins. A change that removes origins is confirmed first, naming them:
// pages there stop working with the browser SDK and hosted page at once.
// The audit entry is the API's: which origins were added and removed.
func (h *Handler) handleOrigins(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	t := c.Tenant()
	saved, err := h.store.AllowedOrigins(r.Context(), t)
	if err != nil {
		return err
	}
	d := settingsOriginsData{Env: t.Env, Saved: saved, Implicit: h.settingsImplicitOrigins(), Loopback: t.Env == linkd.EnvTest}
	if r.Method == http.MethodGet {
		d.Text = strings.Join(saved, "\n")
		return h.render(w, r, http.StatusOK, "settings_origins", settingsPage("Allowed origins", d))
	}
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	d.Text = r.PostForm.Get("origins")
	origins, errs := parseOriginLines(d.Text)
	if len(errs) > 0 {
		d.Errors = errs
		return h.render(w, r, http.StatusBadRequest, "settings_origins", settingsPage("Allowed origins", d))
	}
	for _, o := range origins {
		if !slices.Contains(saved, o) {
			d.Added = append(d.Added, o)
		}
	}
	for _, o := range saved {
		if !slices.Contains(origins, o) {
			d.Removed = append(d.Removed, o)
		}
	}
	if len(d.Added) == 0 && len(d.Removed) == 0 {
		redirectNotice(w, r, "/settings/origins", "Nothing changed: the allowed origins were already these.")
		return nil
	}
	if len(d.Removed) > 0 && r.PostForm.Get("confirm") != "1" {
		d.Text = strings.Join(origins, "\n")
		return h.render(w, r, http.StatusOK, "settings_origins_confirm", settingsPage("Remove allowed origins", d))
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: h.now(), Actor: c.Actor(), Action: "org.allowed_origins",
		Fields: []string{"allowed_origins"}, Details: map[string]any{"added": originsOrEmpty(d.Added), "removed": originsOrEmpty(d.Removed)}}
	if err := h.store.PutAllowedOrigins(r.Context(), t, origins, ev); err != nil {
		return err
	}
	msg := fmt.Sprintf("Allowed origins saved: %d origins.", len(origins))
	if len(origins) == 1 {
		msg = "Allowed origins saved: 1 origin."
	}
	redirectNotice(w, r, "/settings/origins", msg)
	return nil
}

// originsOrEmpty keeps an empty list a list in the audit entry's JSON, as
// the API writes it.
func originsOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
