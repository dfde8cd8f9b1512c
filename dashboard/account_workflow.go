package dashboard

import (
	"fmt"
	"net/http"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// handleToggleWorkflow switches one workflow of one of the account's
// configs on or off, through the same connect.Service.PutConfig as the API
// (which refuses to switch one on while the app is not connected). The
// form names the app, the config ("" for the default one), the workflow
// and the state wanted, so a repeated or stale submit sets, never flips.
func (h *Handler) handleToggleWorkflow(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	if h.cfg.Connections == nil {
		return linkd.Errorf(linkd.ENOTFOUND, "Workflows cannot be changed on this server.")
	}
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	slug, configID, wfID := r.PostForm.Get("slug"), r.PostForm.Get("config_id"), r.PostForm.Get("workflow")
	var on bool
	switch r.PostForm.Get("enabled") {
	case "true":
		on = true
	case "false":
	default:
		return linkd.FieldError("enabled", "Say whether to switch the workflow on or off.")
	}
	back := accountPath(acct.AccountID) + "#workflows"
	app, _ := h.catalogApp(slug)
	name := workflowName(app, wfID)
	_, _, err = h.cfg.Connections.PutConfig(r.Context(), c.Tenant(), c.Actor(), acct.AccountID, slug, configID,
		connect.ConfigInput{Workflows: []connect.WorkflowInput{{ID: wfID, Enabled: &on}}}, false)
	if err != nil {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		h.redirectAlert(w, r, back, fmt.Sprintf("%s could not be switched %s: %s", name, onOff(on), linkd.ErrorMessage(err)))
		return nil
	}
	h.redirectNotice(w, r, back, fmt.Sprintf("Switched %s %s (%s) for %s.", onOff(on), name, h.appName(slug), accountTitle(acct)))
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
