package dashboard

import (
	"fmt"
	"net/http"

	"github.com/linkd-dev/linkd"
)

// connectLinkData is the page that shows a new hosted connect link.
type connectLinkData struct {
	Account *linkd.LinkedAccount
	Base    string
	URL     string
	Expires string
}

// handleConnectLink makes a hosted connect link for the account (the
// compatible dashboard's "Get Hosted URL"), for support staff to send to the
// customer. The link is a credential — anyone with it can connect and
// disconnect the account's apps until it expires — and it is stored only
// hashed, so it is shown once, in this POST's response (no-store), never in
// a redirect, a cookie or a log.
func (h *Handler) handleConnectLink(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	if h.cfg.Connections == nil {
		return linkd.Errorf(linkd.ENOTFOUND, "Connect links cannot be made on this server.")
	}
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	now := h.now()
	u, err := h.cfg.Services.Hosted.ConnectURL(r.Context(), c.Tenant(), acct.AccountID, "", nil)
	if err != nil {
		return err
	}
	h.logger.InfoContext(r.Context(), "hosted connect link made", "linked_account_id", acct.AccountID, "org_id", c.Session.OrgID,
		"environment", c.Session.Env, "actor", c.Actor())
	w.Header().Set("Cache-Control", "no-store")
	return h.render(w, r, http.StatusOK, "account_connect_link", Page{Title: "Hosted connect link", Nav: "accounts",
		Data: connectLinkData{Account: acct, Base: accountPath(acct.AccountID), URL: u,
			Expires: now.Add(linkd.ConnectSessionTTL).UTC().Format("Jan 2, 2006 15:04 UTC")}})
}

// handleRevokeConnectLinks ends every hosted connect link of the account,
// for a link sent to the wrong person; the notice says how many went.
func (h *Handler) handleRevokeConnectLinks(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	n, err := h.cfg.Services.Hosted.RevokeConnectLinks(r.Context(), c.Tenant(), c.Actor(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	msg := "No hosted connect link was active."
	switch {
	case n == 1:
		msg = "Revoked 1 hosted connect link: it no longer opens."
	case n > 1:
		msg = fmt.Sprintf("Revoked %d hosted connect links: they no longer open.", n)
	}
	h.redirectNotice(w, r, accountPath(id), msg)
	return nil
}
