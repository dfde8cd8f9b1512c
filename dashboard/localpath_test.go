package dashboard

import "testing"

// TestLocalPath: only a path on this site comes back, rebuilt from its
// cleaned path and query; whatever a browser could read as another host
// (control characters it drops, backslashes it reads as slashes, encoded
// slashes, schemes) falls back.
func TestLocalPath(t *testing.T) {
	const fb = "/accounts"
	for _, tt := range []struct{ in, want string }{
		{"/accounts?q=ada&page=2", "/accounts?q=ada&page=2"},
		{"/account/acme-1", "/account/acme-1"},
		{"/settings/api-keys", "/settings/api-keys"},
		{"/account/a%20b", "/account/a%20b"},
		{"/a/./b/../c", "/a/c"},
		{"/../../etc", "/etc"},
		{"", fb},
		{"accounts", fb},
		{"https://evil.example/", fb},
		{"javascript:alert(1)", fb},
		{"//evil.example", fb},
		{"///evil.example", fb},
		{"/\\evil.example", fb},
		{"\\\\evil.example", fb},
		{"/\t/evil.example", fb},     // what next=/%09/evil.example decodes to
		{"/%09/evil.example", fb},    // the same, encoded once more
		{"/\r\n/evil.example", fb},   // CR LF
		{"/%0d%0a/evil.example", fb}, // encoded CR LF
		{"/\n/evil.example", fb},
		{"/\x00/evil.example", fb},
		{"/\x7f/evil.example", fb},
		{"/\u0085/evil.example", fb}, // a Unicode control
		{"/%2F/evil.example", fb},    // an encoded slash
		{"/%2f%2fevil.example", fb},
		{"/%5Cevil.example", fb}, // an encoded backslash
		{"/%5C%5Cevil.example", fb},
		{"/x?next=\\\\evil", fb},
		{"/@evil.example", "/@evil.example"}, // a path, not a user
		{"/accounts#frag", "/accounts"},
		{"/\xff", fb},
	} {
		if got := localPath(tt.in, fb); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
