package hosted

import (
	"strings"
	"testing"
)

func TestParseColor(t *testing.T) {
	for in, want := range map[string]string{
		"#0b5fff": "#0b5fff", "#0B5FFF": "#0b5fff", "#abc": "#aabbcc", " #fff ": "#ffffff",
		"rgb(11, 95, 255)": "#0b5fff", "RGB(0 0 0)": "#000000", "rgb(255,255,255)": "#ffffff",
	} {
		c, ok := parseColor(in)
		if !ok || c.String() != want {
			t.Errorf("parseColor(%q) = %v, %v; want %s", in, c, ok, want)
		}
	}
	for _, in := range []string{"", "red", "#ff", "#ggg", "#12345", "#1234567", "#ffff", "rgb(1,2)", "rgb(1,2,3,4)", "rgb(256,0,0)",
		"rgb(-1,0,0)", "rgba(0,0,0,0.5)", "hsl(0,0%,0%)", "#fff;}</style><script>", "url(javascript:x)", "expression(alert(1))", "var(--x)"} {
		if c, ok := parseColor(in); ok {
			t.Errorf("parseColor(%q) = %v, want refused", in, c)
		}
	}
}

// TestThemeContrast checks that every colour a customer can pick yields
// text that meets WCAG AA (4.5:1) on it, and visible buttons.
func TestThemeContrast(t *testing.T) {
	mustParse := func(s string) rgb {
		c, ok := parseColor(s)
		if !ok {
			t.Fatalf("parse %s", s)
		}
		return c
	}
	for v := 0; v < 1<<12; v++ {
		c := rgb{uint8(v>>8) * 17, uint8(v>>4&15) * 17, uint8(v&15) * 17}
		th := themeOf(hostedProps{Background: &c, Accent: &c})
		for name, pair := range map[string][2]string{"text": {th.Fg, th.Bg}, "muted": {th.Muted, th.Card}, "error": {th.Error, th.Card}, "button": {th.OnAccent, th.Accent}} {
			if r := contrast(mustParse(pair[0]), mustParse(pair[1])); r < 4.5 {
				t.Fatalf("%s on %s: %s %s at %.2f:1", name, c, pair[0], pair[1], r)
			}
		}
		if r := contrast(mustParse(th.AccentBorder), mustParse(th.Card)); r < 3 {
			t.Fatalf("button edge on %s: %.2f:1", c, r)
		}
	}
	d := defaultTheme
	for _, pair := range [][2]string{{d.Fg, d.Bg}, {d.Fg, d.Card}, {d.Muted, d.Bg}, {d.Muted, d.Card}, {d.Error, d.Card}, {d.OnAccent, d.Accent}} {
		if r := contrast(mustParse(pair[0]), mustParse(pair[1])); r < 4.5 {
			t.Errorf("default theme: %s on %s at %.2f:1", pair[0], pair[1], r)
		}
	}
	if r := contrast(mustParse(d.FieldBorder), mustParse(d.Card)); r < 3 {
		t.Errorf("default field border at %.2f:1", r)
	}
}

func TestHostedProps(t *testing.T) {
	p := parseHostedProps([]byte(`{"name":"` + strings.Repeat("n", 100) + `","bgColor":"nope","bg_color":"#fafafa","base_color":"#123","color":"#456","redirect_url":"https://x.example/"}`))
	if len([]rune(p.Name)) != 80 || p.Background == nil || p.Background.String() != "#fafafa" || p.Accent.String() != "#112233" || p.RedirectURL != "https://x.example/" {
		t.Fatalf("%+v", p)
	}
	if p := parseHostedProps([]byte(`{"name":5,"button_color":["#fff"]}`)); p.Name != "" || p.Accent != nil {
		t.Fatalf("wrong types: %+v", p)
	}
	if p := parseHostedProps([]byte(`not json`)); p != (hostedProps{}) {
		t.Fatalf("garbage: %+v", p)
	}
}

// FuzzParseColor checks that whatever is accepted comes out as the
// canonical #rrggbb, and is accepted again the same.
func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"#abc", "#A1B2C3", "rgb(1, 2, 3)", "rgb(1 2 3)", "#fff;x", "rgb(1,2,3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseColor(s)
		if !ok {
			return
		}
		out := c.String()
		if len(out) != 7 || strings.Trim(out[1:], "0123456789abcdef") != "" {
			t.Fatalf("%q → %q", s, out)
		}
		if again, ok := parseColor(out); !ok || again != c {
			t.Fatalf("%q → %q → %v", s, out, again)
		}
	})
}
