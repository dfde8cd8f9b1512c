package hosted

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The hosted page takes its colours and title from the properties the
// connect URL was made with. Colours are parsed, never passed through: only
// #rgb, #rrggbb and rgb(r, g, b) are accepted, and what reaches the page is
// the canonical #rrggbb. Text colours are computed so that every pair meets
// WCAG AA contrast whatever the customer picked.

// rgb is a colour without alpha (transparency would make contrast depend
// on what is behind).
type rgb struct{ r, g, b uint8 }

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b) }

// parseColor accepts "#rgb", "#rrggbb" and "rgb(r, g, b)" (commas or
// spaces, 0–255), case-insensitively.
func parseColor(s string) (rgb, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if hex, ok := strings.CutPrefix(s, "#"); ok {
		if len(hex) == 3 {
			hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
		}
		if len(hex) != 6 {
			return rgb{}, false
		}
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil {
			return rgb{}, false
		}
		return rgb{uint8(v >> 16), uint8(v >> 8), uint8(v)}, true
	}
	inner, ok := strings.CutPrefix(s, "rgb(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return rgb{}, false
	}
	parts := strings.FieldsFunc(strings.TrimSuffix(inner, ")"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(parts) != 3 {
		return rgb{}, false
	}
	var out [3]uint8
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return rgb{}, false
		}
		out[i] = uint8(n)
	}
	return rgb{out[0], out[1], out[2]}, true
}

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	ch := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.r) + 0.7152*ch(c.g) + 0.0722*ch(c.b)
}

// contrast is WCAG 2's contrast ratio of two colours (1 to 21).
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

var (
	black = rgb{0, 0, 0}
	white = rgb{255, 255, 255}
)

// textOn returns black or white, whichever reads better on bg. One of them
// always reaches at least 4.58:1, above AA's 4.5:1 for normal text.
func textOn(bg rgb) rgb {
	if contrast(black, bg) >= contrast(white, bg) {
		return black
	}
	return white
}

// theme is the colours of a hosted page, as CSS custom properties.
type theme struct {
	Bg, Fg, Muted, Card, Border, FieldBorder, Accent, OnAccent, AccentBorder, Error string
}

// defaultTheme passes AA: #16181d, #4a5160 and #a4161a on #ffffff and
// #f6f7f9, white on #1f4fd1, field borders #6b7280 at 4.8:1.
var defaultTheme = theme{Bg: "#f6f7f9", Fg: "#16181d", Muted: "#4a5160", Card: "#ffffff", Border: "#d5d9e0",
	FieldBorder: "#6b7280", Accent: "#1f4fd1", OnAccent: "#ffffff", AccentBorder: "#1f4fd1", Error: "#a4161a"}

// hostedProps are the properties of a connect session that the page uses.
type hostedProps struct {
	Name        string
	Background  *rgb
	Accent      *rgb
	RedirectURL string
}

// parseHostedProps reads what the page uses from a session's JSON object
// and ignores the rest (the compatible API lets callers store anything).
// Accepted keys: name; bgColor or bg_color (page background); button_color,
// base_color or color (buttons, in that order of preference); redirect_url.
func parseHostedProps(raw []byte) hostedProps {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	str := func(keys ...string) string {
		for _, k := range keys {
			var v string
			if json.Unmarshal(m[k], &v) == nil && v != "" {
				return v
			}
		}
		return ""
	}
	color := func(keys ...string) *rgb {
		for _, k := range keys {
			var v string
			if json.Unmarshal(m[k], &v) == nil {
				if c, ok := parseColor(v); ok {
					return &c
				}
			}
		}
		return nil
	}
	p := hostedProps{Name: clip(str("name"), 80), Background: color("bgColor", "bg_color"),
		Accent: color("button_color", "base_color", "color"), RedirectURL: str("redirect_url")}
	return p
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// themeOf builds the page's colours from the session's properties.
func themeOf(p hostedProps) theme {
	t := defaultTheme
	card := rgb{255, 255, 255}
	if p.Background != nil {
		bg := *p.Background
		fg := textOn(bg).String()
		// Cards take the page's colour, outlined; text (errors too: they
		// say so in words) is black or white on it; borders of fields are
		// the text colour (3:1 for non-text).
		t.Bg, t.Card, t.Fg, t.Muted, t.Border, t.FieldBorder, t.Error = bg.String(), bg.String(), fg, fg, fg, fg, fg
		card = bg
	}
	if p.Accent != nil {
		a := *p.Accent
		t.Accent, t.OnAccent, t.AccentBorder = a.String(), textOn(a).String(), a.String()
		// A button the colour of its card would have no visible edge.
		if contrast(a, card) < 3 {
			t.AccentBorder = textOn(card).String()
		}
	}
	return t
}
