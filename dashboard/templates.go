package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	// date and datetime show times in UTC, which is what filters use.
	"date": func(t time.Time) string { return t.UTC().Format("Jan 2, 2006") },
	"datetime": func(t time.Time) string {
		return t.UTC().Format("Jan 2, 2006 15:04 UTC")
	},
	"isotime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"udf":     func(v json.RawMessage) string { return csvio.CellText(v) },
	"number": func(n any) string {
		s := fmt.Sprint(n)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	},
	"plural": func(n any, one, many string) string {
		if fmt.Sprint(n) == "1" {
			return one
		}
		return many
	},
	"percent": func(a, b int64) int64 {
		if b <= 0 {
			return 0
		}
		return min(100, a*100/b)
	},
	"query": func(kv ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				q.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(q.Encode())
	},
	"pathEscape": url.PathEscape,
	"inc":        func(i int) int { return i + 1 },
	// initials are an account's avatar: the first letters of its name's
	// first two words (or of its id).
	"initials": func(name, id string) string {
		words := strings.Fields(name)
		if len(words) == 0 {
			words = []string{id}
		}
		var out []rune
		for _, w := range words[:min(2, len(words))] {
			for _, r := range w {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					out = append(out, unicode.ToUpper(r))
					break
				}
			}
		}
		if len(out) == 0 {
			return "#"
		}
		return string(out)
	},
	"sub": func(a int64, b int) int64 { return a - int64(b) },
	// tabs is what the account page's tab bar needs: the account's page
	// and the tab shown.
	"tabs": func(accountID, tab string) map[string]string {
		return map[string]string{"Base": accountPath(accountID), "Tab": tab}
	},
	// actions drops the actions a run does not offer.
	"actions": func(as ...*execAction) []*execAction {
		var out []*execAction
		for _, a := range as {
			if a != nil {
				out = append(out, a)
			}
		}
		return out
	},
	"execLabel": func(status string) string {
		label, _ := execStatus(status)
		return label
	},
	// delimiters and delimName are the import's delimiter choices.
	"delimiters": func() []string {
		return []string{linkd.DelimComma, linkd.DelimSemicolon, linkd.DelimTab, linkd.DelimPipe}
	},
	"delimName": func(d string) string {
		switch d {
		case linkd.DelimComma, "":
			return "comma ( , )"
		case linkd.DelimSemicolon:
			return "semicolon ( ; )"
		case linkd.DelimTab:
			return "tab"
		case linkd.DelimPipe:
			return "pipe ( | )"
		}
		return d
	},
	"envName": func(e linkd.Environment) string {
		if e == linkd.EnvProduction {
			return "Production"
		}
		return "Test"
	},
}

// parseTemplates parses each page (templates/NAME.html) together with the
// layout and the shared partials (templates/_*.html).
func (h *Handler) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	var shared []string
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			shared = append(shared, n)
		}
	}
	h.pages = map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, append(append([]string{}, shared...), n)...)
		if err != nil {
			return fmt.Errorf("parse %s: %w", n, err)
		}
		h.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return nil
}

// staticVersion hashes the static files, so their URLs change with them and
// browsers may cache them for long.
func staticVersion() string {
	sum := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			sum.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}
