package linkd

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonPasswords is a short list of the passwords seen most often in
// breaches that are long enough to pass the length rule (shorter ones are
// refused by it anyway): the first guesses of any attacker. One a line,
// lower case.
//
//go:embed commonpasswords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(commonPasswordsText) {
		if p := strings.TrimSpace(line); p != "" && !strings.HasPrefix(p, "#") {
			m[strings.ToLower(p)] = true
		}
	}
	return m
}()

// ValidatePassword checks a new password: long enough (length is what
// measurably helps; a long passphrase beats any composition rule), not
// only white space, not one character repeated, and not one of the most
// common passwords. The message says which rule failed, so the form can
// tell the user what to change.
func ValidatePassword(p string) error {
	if !utf8.ValidString(p) {
		return FieldError("password", "The password is not valid text.")
	}
	if len(p) > MaxPasswordLen {
		return FieldError("password", "Use at most %d bytes.", MaxPasswordLen)
	}
	if strings.TrimFunc(p, unicode.IsSpace) == "" {
		return FieldError("password", "The password cannot be only spaces. Use at least %d characters, such as a few unrelated words.", MinPasswordLen)
	}
	if n := utf8.RuneCountInString(p); n < MinPasswordLen {
		return FieldError("password", "Use at least %d characters (this one has %d). A few unrelated words make a good password.", MinPasswordLen, n)
	}
	if distinctRunes(p) < 3 {
		return FieldError("password", "The password repeats one or two characters; an attacker tries those first. Use a few unrelated words.")
	}
	if commonPasswords[strings.ToLower(strings.TrimSpace(p))] {
		return FieldError("password", "That is one of the most common passwords, which attackers try first. Choose another.")
	}
	return nil
}

// distinctRunes counts the different characters of s, stopping at 3.
func distinctRunes(s string) int {
	var seen []rune
	for _, r := range s {
		if !strings.ContainsRune(string(seen), r) {
			if seen = append(seen, r); len(seen) == 3 {
				break
			}
		}
	}
	return len(seen)
}
