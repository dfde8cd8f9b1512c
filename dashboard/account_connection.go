package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
)

// removalPlan says exactly what removing one app's connection does, in the
// words both the confirmation page and the page's dialog use.
type removalPlan struct {
	Question     string   // "Remove the Stripe connection of Acme?"
	Consequences []string // one sentence each
	Page         string   // the confirmation page (without JavaScript)
	Action       string   // where the form posts
	DialogID     string
	Label        string // the bin button's accessible name
}

// removalPlan describes the removal of in's connections (conns) from acct.
// What happens to the credentials depends on how the app was connected: an
// OAuth token is revoked at the provider (when it has a revocation
// endpoint); an API key can only be forgotten here.
func (h *Handler) removalPlan(acct *linkd.LinkedAccount, in *integration, conns []*linkd.Connection, cfgs []*linkd.AppConfig) *removalPlan {
	base := accountPath(acct.AccountID) + "/connections/" + url.PathEscape(in.Slug) + "/remove"
	p := &removalPlan{
		Question: fmt.Sprintf("Remove the %s connection of %s?", in.Name, accountTitle(acct)),
		Page:     base, Action: base, DialogID: domID("remove", in.Slug),
		Label: "Remove " + in.Name + " connection",
	}
	keys := false
	for _, cn := range conns {
		keys = keys || cn.AuthType != linkd.AuthOAuth2
	}
	switch {
	case in.Revocable:
		p.Consequences = append(p.Consequences, fmt.Sprintf("Its stored credentials are destroyed and the token is revoked at %s.", in.Name))
	case in.OAuth:
		p.Consequences = append(p.Consequences, fmt.Sprintf("Its stored credentials are destroyed. %s offers no way to revoke the token: it stays valid there until it expires or the customer revokes it.", in.Name))
	default:
		p.Consequences = append(p.Consequences, "Its stored credentials are destroyed.")
	}
	if keys {
		p.Consequences = append(p.Consequences, fmt.Sprintf("linkd cannot revoke an API key: the customer can revoke it at %s.", in.Name))
	}
	var active []string
	nconfigs := 0
	for _, cf := range cfgs {
		if cf.Slug != in.Slug {
			continue
		}
		nconfigs++
		app, _ := h.catalogApp(in.Slug)
		for _, st := range cf.Workflows {
			if st.Enabled {
				active = append(active, workflowName(app, st.ID))
			}
		}
	}
	wf := fmt.Sprintf("Workflows of %s are switched off", in.Name)
	switch {
	case len(active) == 1:
		wf += " (1 is active now: " + active[0] + ")"
	case len(active) > 1:
		wf += fmt.Sprintf(" (%d are active now: %s)", len(active), strings.Join(active, ", "))
	}
	switch {
	case nconfigs == 1:
		wf += " and its config is removed"
	case nconfigs > 1:
		wf += fmt.Sprintf(" and its %d configs are removed", nconfigs)
	}
	p.Consequences = append(p.Consequences, wf+".")
	return p
}

// countNoun is n with the singular or plural noun: "1 config", "2 configs".
func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// workflowName is a workflow's display name, or its id.
func workflowName(app *linkd.App, id string) string {
	if app != nil {
		for _, w := range app.Workflows {
			if w.ID == id {
				return w.Name
			}
		}
	}
	return id
}

// removeData is the confirmation page of a connection's removal.
type removeData struct {
	Account *linkd.LinkedAccount
	Base    string
	App     *integration
}

// handleRemoveConnection confirms (GET) and removes (POST) the account's
// connection to an app, through the same connect.Service.Disconnect as the
// API: the credentials go, OAuth tokens are queued for revocation, and the
// app's configs go with its last connection.
func (h *Handler) handleRemoveConnection(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id, slug := r.PathValue("id"), r.PathValue("slug")
	if h.cfg.Connections == nil {
		return linkd.Errorf(linkd.ENOTFOUND, "Connections cannot be changed on this server.")
	}
	if r.Method == http.MethodGet {
		v, err := h.loadAccount(r.Context(), c, id)
		if err != nil {
			return err
		}
		for _, in := range v.Apps {
			if in.Slug == slug {
				return h.render(w, r, http.StatusOK, "account_remove", Page{Title: in.Remove.Question, Nav: "accounts",
					Data: removeData{Account: v.Account, Base: v.Base, App: in}})
			}
		}
		return linkd.Errorf(linkd.ENOTFOUND, "%s has no %s connection (any more).", accountTitle(v.Account), h.appName(slug))
	}
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	removed, err := h.cfg.Connections.Disconnect(r.Context(), c.Tenant(), c.Actor(), id, slug, "")
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	back := accountPath(acct.AccountID)
	name := h.appName(slug)
	if len(removed) == 0 {
		h.redirectNotice(w, r, back, fmt.Sprintf("%s was not connected to %s: nothing was removed.", name, accountTitle(acct)))
		return nil
	}
	msg := fmt.Sprintf("Removed the %s connection of %s.", name, accountTitle(acct))
	if app, ok := h.catalogApp(slug); ok && app.OAuth != nil && app.OAuth.RevocationURL != "" &&
		slices.ContainsFunc(removed, func(cn *linkd.Connection) bool { return cn.AuthType == linkd.AuthOAuth2 }) {
		msg += " Its token is being revoked at " + name + "."
	}
	h.redirectNotice(w, r, back, msg)
	return nil
}
