package dashboard

import (
	"fmt"
	"net/http"
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
// ignored, normalized as the API's PUT …/org/allowed-origins does (sorted,
// without duplicates); errors name the line.
func parseOriginLines(text string) ([]string, []string) {
	var list []string
	var lineNo []int
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			list, lineNo = append(list, line), append(lineNo, i+1)
		}
	}
	origins, errs := linkd.NormalizeOrigins(list, func(i int) string { return fmt.Sprintf("Line %d", lineNo[i]) })
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = linkd.ErrorMessage(err)
	}
	return origins, msgs
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
	change := linkd.ChangeOrigins(saved, origins)
	d.Added, d.Removed = change.Added, change.Removed
	if change.Empty() {
		h.redirectNotice(w, r, "/settings/origins", "Nothing changed: the allowed origins were already these.")
		return nil
	}
	if len(d.Removed) > 0 && r.PostForm.Get("confirm") != "1" {
		d.Text = strings.Join(origins, "\n")
		return h.render(w, r, http.StatusOK, "settings_origins_confirm", settingsPage("Remove allowed origins", d))
	}
	if _, _, err := h.cfg.Services.Hosted.PutAllowedOrigins(r.Context(), t, c.Actor(), origins, func(i int) string { return fmt.Sprintf("Origin %d", i+1) }); err != nil {
		return err
	}
	msg := fmt.Sprintf("Allowed origins saved: %d origins.", len(origins))
	if len(origins) == 1 {
		msg = "Allowed origins saved: 1 origin."
	}
	h.redirectNotice(w, r, "/settings/origins", msg)
	return nil
}
