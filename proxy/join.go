package proxy

import (
	"fmt"
	"net/url"
	"strings"
)

// JoinPath joins a caller's escaped path (and query) to base. The result is
// always on base's scheme and host, and under base's path at a segment
// boundary: a segment that is "." or "..", or holds a backslash or a
// control character, in clear or percent-encoded, is refused rather than
// cleaned, since a caller that sends one is either confused or probing.
func JoinPath(base *url.URL, path, rawQuery string) (*url.URL, error) {
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return nil, fmt.Errorf("path segment %q is not valid percent-encoding", seg)
		}
		switch {
		case dec == "." || dec == "..":
			return nil, fmt.Errorf("path segment %q is not allowed", seg)
		case strings.ContainsAny(dec, "\\"):
			return nil, fmt.Errorf("path segment %q holds a backslash", seg)
		case strings.ContainsFunc(dec, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return nil, fmt.Errorf("path segment %q holds a control character", seg)
		case dec == "" && i > 0 && i < len(segs)-1:
			return nil, fmt.Errorf("path %q has an empty segment", path)
		}
	}
	prefix := strings.TrimRight(base.EscapedPath(), "/")
	escaped := prefix + path
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: decoded, RawQuery: rawQuery}
	// Keep the caller's encoding (an encoded slash stays encoded) when it
	// is a valid one for the path; net/url then sends RawPath.
	u.RawPath = escaped
	if u.EscapedPath() != escaped {
		u.RawPath = ""
	}
	if got := u.EscapedPath(); got != prefix && !strings.HasPrefix(got, prefix+"/") || u.Host != base.Host {
		return nil, fmt.Errorf("path %q leaves the app's base URL", path)
	}
	return u, nil
}
