// Package proxy calls an app's API as one linked account: it takes the
// connection's credentials (refreshed when due), builds the URL from the
// catalog's base URL and the caller's path (the caller never chooses the
// host), forwards the caller's headers minus a deny-list, retries what is
// safe to retry, and refreshes once on 401. Caller implements
// linkd.AppCaller for the proxy route and, later, workflow steps. Every
// request leaves through the one SSRF-guarded client (package outbound).
package proxy
