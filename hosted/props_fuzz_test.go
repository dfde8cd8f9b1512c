package hosted

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

// FuzzParseHostedProps: a connect session's stored JSON (anything the
// compatible API let a caller store) gives the page a name of at most 80
// characters and a theme of "#rrggbb" colours, whatever it holds.
func FuzzParseHostedProps(f *testing.F) {
	for _, s := range []string{`{"name":"Acme","bgColor":"#fff","button_color":"#1f4fd1","redirect_url":"https://a.example.com"}`,
		`{"bg_color":"rgb(1,2,3)","color":"red"}`, `[]`, `null`, `{"name":1}`, `{"bgColor":"#12345"}`, ``} {
		f.Add([]byte(s))
	}
	hex := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := parseHostedProps(raw)
		if utf8.RuneCountInString(p.Name) > 80 {
			t.Fatalf("name of %d characters", utf8.RuneCountInString(p.Name))
		}
		th := themeOf(p)
		for _, c := range []string{th.Bg, th.Fg, th.Muted, th.Card, th.Border, th.FieldBorder, th.Accent, th.OnAccent, th.AccentBorder, th.Error} {
			if !hex.MatchString(c) {
				t.Fatalf("theme colour %q from %q", c, raw)
			}
		}
	})
}
