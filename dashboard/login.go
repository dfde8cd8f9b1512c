package dashboard

import (
	"errors"
	"math"
	"net/http"
	"strconv"
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

// handleLogin shows and checks the sign-in form. The rules (throttles
// reserved in the database before hashing, bounded hashing) are the
// UserService's; this shows its answer on the form, with Retry-After when
// the answer is to wait.
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
	_, secret, err := h.users.SignIn(r.Context(), form.Email, r.PostFormValue("password"), h.cfg.TrustedProxies.ClientIP(r))
	if err != nil {
		status, ok := statuses[linkd.ErrorCode(err)]
		if !ok {
			return err
		}
		var e *linkd.Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
		form.Errors, form.Error = fieldErrors(err)
		return h.render(w, r, status, "login", Page{Title: "Sign in", Data: form})
	}
	h.setSessionCookie(w, r, secret)
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
	if password != r.PostFormValue("password2") && linkd.ValidatePassword(password) == nil {
		return fail(linkd.FieldError("password2", "The passwords do not match."))
	}
	u, err := h.users.Setup(r.Context(), form.Code, form.Email, password)
	if err != nil {
		return fail(err)
	}
	email := u.Email
	h.logger.InfoContext(r.Context(), "created the first dashboard user", "email", email, "org", u.OrgID)
	_, secret, err := h.users.StartSession(r.Context(), u)
	if err != nil {
		return err
	}
	h.setSessionCookie(w, r, secret)
	h.redirectNotice(w, r, "/accounts", "Welcome to linkd. You are signed in as "+email+".")
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
		if err := h.users.SignOut(r.Context(), c.Session.ID); err != nil {
			return err
		}
	}
	h.clearSessionCookie(w, r)
	h.redirectNotice(w, r, "/login", "You are signed out.")
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
	if err := h.users.SwitchEnv(r.Context(), c.Session.ID, env); err != nil {
		return err
	}
	back := localPath(r.PostFormValue("back"), "/accounts")
	// A page of one environment's object does not exist in the other.
	if !strings.HasPrefix(back, "/accounts?") && back != "/accounts" && !strings.HasPrefix(back, "/settings") {
		back = "/accounts"
	}
	h.redirectNotice(w, r, back, "Switched to the "+string(env)+" environment.")
	return nil
}
