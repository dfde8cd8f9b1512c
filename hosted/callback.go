package hosted

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/linkd-dev/linkd"
)

// callbackPage is where the provider sends the customer back. Its one
// script (with the response's nonce) tells the page that opened the popup
// that the app is connected, posting only to the origin that asked for
// the consent URL, and closes the popup. It shows linkd's words only.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .OK}}Connected{{else}}Connection failed{{end}} · linkd</title>
<style nonce="{{.Nonce}}">body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.err{color:#a4161a}</style></head>
<body><main>{{if .OK}}<h1>Connected to {{.App}}</h1><p>You can close this window.</p>
<script nonce="{{.Nonce}}">{{if .Origin}}window.opener && window.opener.postMessage({linkd: "connected", slug: {{.Slug}}}, {{.Origin}}); {{end}}setTimeout(function(){ window.close() }, 800)</script>
{{else}}<h1 class="err">Could not connect{{if .App}} to {{.App}}{{end}}</h1><p>{{.Message}}</p><p>Close this window and try again.</p>{{end}}
</main></body></html>`))

// setCallbackHeaders locks the callback's answers down: the URL holds a
// code and a state, so no Referer may carry it on and no cache may keep
// it; the page runs only its own nonced script and cannot be framed (a
// framed callback could be clickjacked or read).
func setCallbackHeaders(w http.ResponseWriter, nonce string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// handleOAuthCallback is where providers send the customer back. It shows
// a small page (the SDK's popup closes itself), or redirects to the
// return_to given when the flow started, with the outcome in the query:
// linkd_status, and linkd_error as a reason code (connect.Failure words it),
// never text.
func (h *Handler) handleOAuthCallback(w http.ResponseWriter, r *http.Request) error {
	nonce := newNonce()
	setCallbackHeaders(w, nonce)
	res, err := h.conns.Callback(r.Context(), r.URL.Query(), r.Cookies())
	if linkd.ErrorCode(err) == linkd.EINTERNAL {
		h.logger.ErrorContext(r.Context(), "oauth callback", "err", err, "request_id", h.requestID(r.Context()))
	}
	data := struct {
		OK                                bool
		Nonce, App, Slug, Origin, Message string
	}{OK: err == nil, Nonce: nonce}
	if res != nil {
		if res.ClearCookie != nil {
			http.SetCookie(w, res.ClearCookie)
		}
		if res.ProviderError != "" {
			h.logger.InfoContext(r.Context(), "oauth provider refused", "slug", res.Slug, "provider_error", res.ProviderError, "request_id", h.requestID(r.Context()))
		}
		data.App, data.Slug = res.Slug, res.Slug
		if app, ok := h.conns.Catalog.App(res.Slug); ok {
			data.App = app.Name
		}
		if err == nil {
			data.Origin = res.Origin
		}
		if res.ReturnTo != "" {
			u, _ := url.Parse(res.ReturnTo)
			q := u.Query()
			q.Set("slug", res.Slug)
			if err != nil {
				reason := res.Reason
				if reason == "" {
					reason = "failed"
				}
				q.Set("linkd_status", "error")
				q.Set("linkd_error", reason)
			} else {
				q.Set("linkd_status", "connected")
			}
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return nil
		}
	}
	status := http.StatusOK
	if err != nil {
		data.Message = linkd.ErrorMessage(err)
		switch linkd.ErrorCode(err) {
		case linkd.EFORBIDDEN:
			status = http.StatusForbidden
		case linkd.EINTERNAL:
			status = http.StatusInternalServerError
		default:
			status = http.StatusBadRequest
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return callbackPage.Execute(w, data)
}
