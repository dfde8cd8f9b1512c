package linkd_test

import (
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

// TestValidatePassword: length alone let ten spaces and "aaaaaaaaaa"
// through; white space only, one or two repeated characters and the most
// common passwords are refused now, each with a message that says why.
func TestValidatePassword(t *testing.T) {
	for _, tt := range []struct {
		pw   string
		want string // in the message; "" for accepted
	}{
		{"correct horse battery", ""},
		{"Tr0ub4dor&3x", ""},
		{"short", "at least 10 characters"},
		{"          ", "only spaces"},
		{"\t\t\t\t\t\n\n\n\n\n\n", "only spaces"},
		{"aaaaaaaaaa", "repeats"},
		{"abababababab", "repeats"},
		{"1234567890", "most common"},
		{"Password123", "most common"},
		{"qwertyuiop", "most common"},
		{"  iloveyou123 ", "most common"},
		{strings.Repeat("x", 2000), "at most"},
		{"\xff\xfe long enough", "not valid"},
	} {
		err := linkd.ValidatePassword(tt.pw)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.pw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(linkd.ErrorMessage(err), tt.want) {
			t.Errorf("%q: %v; want a message with %q", tt.pw, err, tt.want)
		}
		if e, ok := err.(*linkd.Error); !ok || e.Field != "password" {
			t.Errorf("%q: %#v does not name the password field", tt.pw, err)
		}
	}
}
