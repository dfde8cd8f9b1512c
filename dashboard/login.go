package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
)

// authForm is what the sign-in and setup pages show: what was typed (never
// the password) and errors by field.
type authForm struct {
	Email  string
	Code   string
	Next   string
	Errors map[string]string
	Error  string // not about one field
}

func fieldErrors(err error) (map[string]string, string) {
	var e *linkd.Error
	if errors.As(err, &e) && e.Field != "" {
		return map[string]string{e.Field: e.Message}, ""
	}
	return nil, linkd.ErrorMessage(err)
}

// handleLogin shows and checks the sign-in form. Failures are counted per
// email and client address in the database, so the limit holds across
// instances; a correct password does not help once the limit is reached.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) error {
	form := authForm{Next: localPath(r.FormValue("next"), "/accounts")}
	if r.Method == http.MethodGet {
		if c, err := h.lookupSession(r); err == nil && c != nil {
			http.Redirect(w, r, form.Next, http.StatusSeeOther)
			return nil
		}
		if setup, err := h.needsSetup(r.Context()); err != nil {
			return err
		} else if setup {
			if n, _ := h.userCount(r); n == 0 {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return nil
			}
		}
		return h.render(w, r, http.StatusOK, "login", Page{Title: "Sign in", Data: form})
	}
	form.Email = strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	email, err := linkd.NormalizeEmail(form.Email)
	if err != nil {
		form.Errors, form.Error = fieldErrors(err)
		return h.render(w, r, http.StatusBadRequest, "login", Page{Title: "Sign in", Data: form})
	}
	key := email + "|" + clientIP(r, h.cfg.TrustProxy)
	now := h.now()
	n, err := h.store.LoginFailures(r.Context(), key, now.Add(-linkd.LoginWindow))
	if err != nil {
		return err
	}
	if n >= linkd.MaxLoginFailures {
		form.Error = fmt.Sprintf("Too many failed sign-ins for %s. Wait %d minutes and try again.", email, int(linkd.LoginWindow.Minutes()))
		return h.render(w, r, http.StatusTooManyRequests, "login", Page{Title: "Sign in", Data: form})
	}
	u, hash, err := h.store.UserByEmail(r.Context(), email)
	if err != nil && linkd.ErrorCode(err) != linkd.ENOTFOUND {
		return err
	}
	if u == nil {
		hash = linkd.DummyPasswordHash // take as long as for a real user
	}
	if !linkd.CheckPassword(hash, password) || u == nil {
		if err := h.store.AddLoginFailure(r.Context(), key, now); err != nil {
			return err
		}
		form.Error = "That email and password do not match an account."
		return h.render(w, r, http.StatusUnauthorized, "login", Page{Title: "Sign in", Data: form})
	}
	if err := h.store.ClearLoginFailures(r.Context(), key); err != nil {
		return err
	}
	if err := h.startSession(w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, form.Next, http.StatusSeeOther)
	return nil
}

// userCount counts the users of every organization together.
func (h *Handler) userCount(r *http.Request) (int, error) {
	orgs, err := h.store.Orgs(r.Context())
	if err != nil {
		return 0, err
	}
	total := 0
	for _, o := range orgs {
		n, err := h.store.CountUsers(r.Context(), o.ID)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// handleSetup creates the first user of a fresh install with the one-time
// code that serve logged. The code's hash is in the database, so any
// instance accepts it; the store makes sure only one first user results.
func (h *Handler) handleSetup(w http.ResponseWriter, r *http.Request) error {
	form := authForm{}
	if r.Method == http.MethodGet {
		if setup, err := h.needsSetup(r.Context()); err != nil {
			return err
		} else if !setup {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return nil
		}
		return h.render(w, r, http.StatusOK, "setup", Page{Title: "Set up linkd", Data: form})
	}
	form.Email = strings.TrimSpace(r.PostFormValue("email"))
	form.Code = strings.TrimSpace(r.PostFormValue("code"))
	password := r.PostFormValue("password")
	fail := func(err error) error {
		form.Errors, form.Error = fieldErrors(err)
		if form.Errors == nil && form.Error == "" {
			return err
		}
		status := http.StatusBadRequest
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		return h.render(w, r, status, "setup", Page{Title: "Set up linkd", Data: form})
	}
	if form.Code == "" {
		return fail(linkd.FieldError("code", "Enter the setup code from the server's log."))
	}
	email, err := linkd.NormalizeEmail(form.Email)
	if err != nil {
		return fail(err)
	}
	if err := linkd.ValidatePassword(password); err != nil {
		return fail(err)
	}
	if password != r.PostFormValue("password2") {
		return fail(linkd.FieldError("password2", "The passwords do not match."))
	}
	u := &linkd.User{ID: linkd.NewID(), Email: email, CreatedAt: h.now()}
	if err := h.store.CreateFirstUser(r.Context(), linkd.HashAPIKey(form.Code), h.now(), u, linkd.HashPassword(password)); err != nil {
		return fail(err)
	}
	h.logger.InfoContext(r.Context(), "created the first dashboard user", "email", email, "org", u.OrgID)
	if err := h.startSession(w, r, u); err != nil {
		return err
	}
	redirectNotice(w, r, "/accounts", "Welcome to linkd. You are signed in as "+email+".")
	return nil
}

// handleLogout ends the session everywhere (it is deleted from the
// database) and clears the cookie.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) error {
	c, err := h.lookupSession(r)
	if err != nil {
		return err
	}
	if c != nil {
		if err := h.store.DeleteDashboardSession(r.Context(), c.Session.ID); err != nil {
			return err
		}
	}
	h.clearSessionCookie(w, r)
	redirectNotice(w, r, "/login", "You are signed out.")
	return nil
}

// handleEnv switches the environment the session looks at, and returns to
// the page the switch was used on.
func (h *Handler) handleEnv(w http.ResponseWriter, r *http.Request) error {
	env, err := linkd.ParseEnvironment(r.PostFormValue("env"))
	if err != nil {
		return err
	}
	c := current(r)
	if err := h.store.SetDashboardSessionEnv(r.Context(), c.Session.ID, env); err != nil {
		return err
	}
	back := localPath(r.PostFormValue("back"), "/accounts")
	// A page of one environment's object does not exist in the other.
	if !strings.HasPrefix(back, "/accounts?") && back != "/accounts" && !strings.HasPrefix(back, "/settings") {
		back = "/accounts"
	}
	redirectNotice(w, r, back, "Switched to the "+string(env)+" environment.")
	return nil
}
