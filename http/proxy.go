package http

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// proxyPrefix is where the proxy routes start; the app's slug follows.
const proxyPrefix = "/api/v2/public/proxy/"

// handleProxy forwards a call to an app's API as the linked account named
// by the linked_account_id header (or query parameter, as the Node SDK sends
// it), and streams the app's answer back unchanged but for the headers the
// caller must not get. What linkd itself refuses or fails at carries
// linkd-proxy-error: true, so a caller can tell it from the app's errors.
func (s *Server) handleProxy(w http.ResponseWriter, r *http.Request) error {
	err := s.proxy(w, r)
	if err != nil {
		w.Header().Set("linkd-proxy-error", "true")
	}
	return err
}

func (s *Server) proxy(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	slug := r.PathValue("slug")
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), proxyPrefix+slug)
	if !ok {
		return linkd.FieldError("slug", "the app's slug must be written as is in the path")
	}
	retries := -1
	if v := r.Header.Get("linkd-proxy-retries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 5 {
			return linkd.FieldError("linkd-proxy-retries", "linkd-proxy-retries must be a whole number from 0 to 5, not %q", v)
		}
		retries = n
	}
	req := &linkd.AppRequest{Method: r.Method, Path: path, RawQuery: withoutParam(r.URL.RawQuery, "linked_account_id"),
		Header: r.Header, ContentLength: r.ContentLength, Retries: retries}
	if r.ContentLength != 0 {
		req.Body = r.Body
	}
	res, err := s.apps.Call(r.Context(), tenant(r), id, slug, req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	h := w.Header()
	for k, vs := range res.Header {
		if linkd.ForwardedResponseHeader(k) {
			h[k] = vs
		}
	}
	h.Set("linkd-proxy-attempts", strconv.Itoa(res.Attempts))
	if res.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	}
	w.WriteHeader(res.StatusCode)
	if r.Method == http.MethodHead {
		return nil
	}
	streamBody(w, res.Body)
	return nil
}

// streamBody copies an app's answer to the caller as it arrives, flushing
// each piece, so a slow stream (events, a large download) reaches the
// caller without piling up in linkd. An error half-way can only end the
// response; the status is gone already.
func streamBody(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// withoutParam removes every name=… pair from a raw query, keeping the
// others as sent (order and encoding).
func withoutParam(raw, name string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil && dk == name {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}
