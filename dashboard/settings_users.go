package dashboard

import (
	"net/http"

	"github.com/linkd-dev/linkd"
)

type settingsUsersData struct {
	Users   []*linkd.User
	Self    string // the signed-in user's id: no disable or delete on its row
	Enabled int
	Error   string
}

// handleUsers lists the organization's dashboard users with what can be
// done to each: disable or enable, sign out everywhere, delete.
func (h *Handler) handleUsers(w http.ResponseWriter, r *http.Request) error {
	return h.renderUsers(w, r, http.StatusOK, "")
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	c := current(r)
	users, err := h.users.ListUsers(r.Context(), c.Session.OrgID)
	if err != nil {
		return err
	}
	data := settingsUsersData{Users: users, Self: c.Session.UserID, Error: msg}
	for _, u := range users {
		if u.DisabledAt == nil {
			data.Enabled++
		}
	}
	return h.render(w, r, status, "settings_users", settingsPage("Users", data))
}

// handleUserAction disables, enables or signs out a user (POST
// /settings/users/{id}/{action}). The service refuses what would lock the
// organization out (disabling yourself or its last enabled user); the
// refusal shows on the list.
func (h *Handler) handleUserAction(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	org, id := c.Session.OrgID, r.PathValue("id")
	var u *linkd.User
	var err error
	var notice string
	switch r.PathValue("action") {
	case "disable":
		if u, err = h.users.Disable(r.Context(), org, id, c.Actor()); err == nil {
			notice = u.Email + " is disabled: signing in is refused and every session has ended."
		}
	case "enable":
		if u, err = h.users.Enable(r.Context(), org, id, c.Actor()); err == nil {
			notice = u.Email + " can sign in again."
		}
	case "sign-out":
		var n int
		if u, n, err = h.users.SignOutEverywhere(r.Context(), org, id, c.Actor()); err == nil {
			notice = u.Email + " is signed out everywhere."
			if n == 0 {
				notice = u.Email + " had no sessions."
			}
			if u.ID == c.Session.UserID {
				h.clearSessionCookie(w, r)
				h.redirectNotice(w, r, "/login", "You are signed out everywhere.")
				return nil
			}
		}
	default:
		return linkd.Errorf(linkd.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	}
	return h.userResult(w, r, err, notice)
}

// userResult shows an action's outcome: its notice on the list, or a
// refusal on the list with the status that goes with it.
func (h *Handler) userResult(w http.ResponseWriter, r *http.Request, err error, notice string) error {
	if err != nil {
		status, ok := statuses[linkd.ErrorCode(err)]
		if !ok || status == http.StatusNotFound {
			return err
		}
		return h.renderUsers(w, r, status, linkd.ErrorMessage(err))
	}
	h.redirectNotice(w, r, "/settings/users", notice)
	return nil
}

// handleDeleteUser confirms (GET) and deletes (POST) a user.
func (h *Handler) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	if r.Method == http.MethodPost {
		u, err := h.users.Delete(r.Context(), c.Session.OrgID, r.PathValue("id"), c.Actor())
		notice := ""
		if err == nil {
			notice = u.Email + " is deleted."
		}
		return h.userResult(w, r, err, notice)
	}
	u, err := h.store.UserByID(r.Context(), c.Session.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "settings_user_delete", settingsPage("Delete "+u.Email, struct {
		User *linkd.User
		Self bool
	}{u, u.ID == c.Session.UserID}))
}
