package csvio

import (
	"bufio"
	"io"
	"strings"

	"github.com/linkd-dev/linkd"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// delimiters are the characters a file's fields may be separated by, in
// the order that breaks a tie when detecting: a header with as many commas
// as semicolons is read as comma-separated, the RFC 4180 default.
var delimiters = []struct {
	name string
	char byte
}{
	{linkd.DelimComma, ','},
	{linkd.DelimSemicolon, ';'},
	{linkd.DelimTab, '\t'},
	{linkd.DelimPipe, '|'},
}

// delimiterChar is the character a delimiter name stands for; a job from
// before delimiters were stored has none and is comma-separated.
func delimiterChar(name string) (rune, bool) {
	if name == "" {
		return ',', true
	}
	for _, d := range delimiters {
		if d.name == name {
			return rune(d.char), true
		}
	}
	return 0, false
}

// ParseDelimiter checks a requested delimiter: "" (detect it), comma,
// semicolon, tab or pipe.
func ParseDelimiter(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, ok := delimiterChar(s); ok {
		return s, nil
	}
	return "", linkd.FieldError("delimiter", "delimiter must be comma, semicolon, tab or pipe, not %q", s)
}

// detectDelimiter names the delimiter of the header line at the start of
// head: the candidate that occurs most often outside double quotes before
// the first line break outside them. Spreadsheets in locales that write
// decimal commas save ";"-separated files, "Unicode text" exports are
// tab-separated, and a heading may itself hold any of them inside quotes.
// A header with none (a single column) is comma-separated.
func detectDelimiter(head []byte) string {
	counts := make([]int, len(delimiters))
	quoted := false
scan:
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n' || c == '\r':
			break scan
		default:
			for i, d := range delimiters {
				if c == d.char {
					counts[i]++
				}
			}
		}
	}
	best := 0
	for i := range delimiters {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return delimiters[best].name
}

// ParseEncoding checks a requested encoding: "" or utf-8 (the default), or
// windows-1252, which Latin-1 and its usual spellings are taken for (as
// browsers do: the two differ only in bytes Latin-1 leaves to control
// characters). UTF-16 needs no request: its byte order mark says so.
func ParseEncoding(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "utf-8", "utf8":
		return linkd.EncodingUTF8, nil
	case "windows-1252", "cp1252", "latin-1", "latin1", "iso-8859-1":
		return linkd.EncodingWindows1252, nil
	}
	return "", linkd.FieldError("encoding", "encoding must be utf-8 or windows-1252, not %q (UTF-16 is recognised by its byte order mark)", s)
}

// decodeUpload returns body as UTF-8 and the encoding it was in. A byte
// order mark decides (UTF-8, UTF-16 little or big endian); without one the
// file is what was asked: windows-1252 is transcoded, UTF-8 passes through
// untouched (and is checked as it is stored). The transformers work on a
// few kilobytes at a time, so memory stays flat whatever the file's size.
func decodeUpload(body io.Reader, asked string) (io.Reader, string) {
	br := bufio.NewReader(body)
	head, _ := br.Peek(3) // a short or failing body shows up when read
	switch {
	case strings.HasPrefix(string(head), bom):
		return br, linkd.EncodingUTF8
	case strings.HasPrefix(string(head), "\xFF\xFE"):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), linkd.EncodingUTF16LE
	case strings.HasPrefix(string(head), "\xFE\xFF"):
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), linkd.EncodingUTF16BE
	case asked == linkd.EncodingWindows1252:
		return transform.NewReader(br, charmap.Windows1252.NewDecoder()), linkd.EncodingWindows1252
	}
	return br, linkd.EncodingUTF8
}

// countingReader counts the bytes read through it: the size limit is on
// the file as uploaded, before any transcoding.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
