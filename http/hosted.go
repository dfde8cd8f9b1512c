package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// The API side of the hosted connect page (package hosted serves the page
// itself): making and revoking its links, and the properties a link
// carries.

// handleRevokeConnectURLs ends every hosted connect URL of the account (a
// link sent to the wrong person). An extension: the compatible API's links
// can only expire.
func (s *Server) handleRevokeConnectURLs(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	n, err := s.links.RevokeConnectLinks(r.Context(), tenant(r), actor(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "revoked_count": n})
	return nil
}

// handleConnectURL makes a hosted connect URL for the session token's
// account. The body is any JSON object (colours, a name, redirect_url…),
// stored with the session and returned by GET hosted-properties.
func (s *Server) handleConnectURL(w http.ResponseWriter, r *http.Request) error {
	props := []byte("{}")
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if props, err = s.connectProperties(r.Context(), tenant(r), body); err != nil {
				return err
			}
		}
	}
	configID := r.URL.Query().Get("config_id")
	if configID != "" && !saneToken(configID, 255) {
		return linkd.FieldError("config_id", "config_id must be 1 to 255 visible ASCII characters")
	}
	hosted, err := s.links.SessionConnectURL(r.Context(), callerFrom(r.Context()).session, configID, props)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"hosted_url": hosted})
	return nil
}

// connectProperties checks the body of a connect-url request: a JSON object
// of at most MaxConnectPropertiesBytes, whose redirect_url, if any, is an
// absolute http(s) URL on an origin the tenant allows. It returns the
// object compacted.
func (s *Server) connectProperties(ctx context.Context, t linkd.Tenant, body []byte) ([]byte, error) {
	if len(body) > linkd.MaxConnectPropertiesBytes {
		return nil, &linkd.Error{Code: linkd.ETOOLARGE, Field: "body", Message: fmt.Sprintf("the properties are larger than %d bytes", linkd.MaxConnectPropertiesBytes)}
	}
	if !utf8.Valid(body) {
		return nil, linkd.FieldError("body", "the body is not valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := decodeJSON(body, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, linkd.FieldError("body", "the body must be a JSON object")
	}
	if raw, ok := m["redirect_url"]; ok && string(raw) != "null" {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, linkd.FieldError("redirect_url", "redirect_url must be a string")
		}
		if u != "" { // "" and null mean no redirect
			if err := s.checkRedirectURL(ctx, t, u); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return nil, linkd.FieldError("body", "malformed JSON")
	}
	return buf.Bytes(), nil
}

// checkRedirectURL accepts an absolute http(s) URL on an origin the tenant
// allows: the hosted page links back to it, so it must not be a way to send
// customers anywhere (an open redirect).
func (s *Server) checkRedirectURL(ctx context.Context, t linkd.Tenant, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2048 {
		return linkd.FieldError("redirect_url", "redirect_url must be an absolute http(s) URL")
	}
	ok, err := s.originAllowed(ctx, t, linkd.OriginOf(raw))
	if err != nil {
		return err
	}
	if !ok {
		return linkd.FieldError("redirect_url", "redirect_url must be on one of the organization's allowed origins (PUT /api/v2/public/org/allowed-origins); %s is not", linkd.OriginOf(raw))
	}
	return nil
}

// handleHostedProperties returns the properties of the account's newest
// live connect URL, or {} when it has none.
func (s *Server) handleHostedProperties(w http.ResponseWriter, r *http.Request) error {
	props := []byte("{}")
	cs, err := s.store.LatestConnectSession(r.Context(), tenant(r), sessionAccount(r), s.now().UTC())
	if err == nil {
		props = cs.Properties
	} else if linkd.ErrorCode(err) != linkd.ENOTFOUND {
		return err
	}
	// As stored, byte for byte: the compatible API returns what it was given.
	writeJSON(w, http.StatusOK, json.RawMessage(props))
	return nil
}
