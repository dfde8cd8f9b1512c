package connect

import (
	"fmt"

	"github.com/linkd-dev/linkd"
)

// Why a callback did not connect. A reason is safe to carry in a URL (the
// hosted page's linkd_error) and to show, because it is only ever turned
// into linkd's own words (Failure): the provider's error_description, or
// anything else in the callback URL, is text anyone can write, and a page
// that repeats it lets a stranger speak with linkd's voice ("your account
// is locked, call …").
const (
	// ReasonOtherBrowser: the callback came to a browser other than the
	// one that started the flow.
	ReasonOtherBrowser = "other_browser"
	// ReasonProvider: the provider refused with an error code linkd does
	// not know.
	ReasonProvider = "provider_error"
	// ReasonNoCode: the provider sent the browser back without a code.
	ReasonNoCode = "no_code"
	// ReasonCodeRefused: the provider refused to trade the code for tokens.
	ReasonCodeRefused = "code_refused"
)

// providerErrors are the error codes an authorization server may send back
// (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6), with what to tell the
// customer; %[1]s is the app's name, %[2]s the code. A code in this list is
// shown, any other is not.
var providerErrors = map[string]string{
	"access_denied":              "Access was not granted at %[1]s (%[2]s). Try again and allow access to connect.",
	"invalid_request":            "%[1]s refused the request (%[2]s): the app's setup needs attention. Contact the company that sent you here.",
	"unauthorized_client":        "%[1]s refused the request (%[2]s): the app's setup needs attention. Contact the company that sent you here.",
	"unsupported_response_type":  "%[1]s refused the request (%[2]s): the app's setup needs attention. Contact the company that sent you here.",
	"invalid_scope":              "%[1]s refused the requested permissions (%[2]s). Contact the company that sent you here.",
	"server_error":               "%[1]s could not handle the request just now (%[2]s). Try again in a moment.",
	"temporarily_unavailable":    "%[1]s could not handle the request just now (%[2]s). Try again in a moment.",
	"login_required":             "%[1]s needs you to sign in and approve the request (%[2]s). Try again.",
	"consent_required":           "%[1]s needs you to sign in and approve the request (%[2]s). Try again.",
	"interaction_required":       "%[1]s needs you to sign in and approve the request (%[2]s). Try again.",
	"account_selection_required": "%[1]s needs you to choose an account (%[2]s). Try again.",
}

// linkdReasons are linkd's own reasons, worded the same way.
var linkdReasons = map[string]string{
	ReasonOtherBrowser: "This connection was started in another browser, or this browser did not keep the cookie linkd set when it started. Go back to where you started it and connect there, with cookies allowed for this site.",
	ReasonProvider:     "%[1]s refused the authorization. Try again, or contact the company that sent you here.",
	ReasonNoCode:       "%[1]s sent back an incomplete answer. Try again.",
	ReasonCodeRefused:  "%[1]s did not complete the connection. Try again.",
}

// Failure returns linkd's words for why connecting app (its display name)
// failed, for a reason from a callback; a reason it does not know gets a
// generic sentence that repeats nothing of it.
func Failure(reason, app string) string {
	if f, ok := providerErrors[reason]; ok {
		return fmt.Sprintf(f, app, reason)
	}
	if f, ok := linkdReasons[reason]; ok {
		return fmt.Sprintf(f, app)
	}
	return "The connection was not completed. Try again."
}

func appName(app *linkd.App, slug string) string {
	if app != nil {
		return app.Name
	}
	return slug
}
