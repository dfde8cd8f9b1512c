package csvio

import (
	"bytes"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// FuzzDecodeUpload: whatever bytes an upload holds and whatever encoding
// the caller names, the dialect settings parse or fail, and a file that
// announces UTF-16 or is read as windows-1252 comes out as valid UTF-8
// (the transcoders never panic on odd lengths or bad surrogates).
func FuzzDecodeUpload(f *testing.F) {
	for _, s := range []struct{ body, enc, delim string }{
		{"id,name\n1,a\n", "", ","},
		{"\xEF\xBB\xBFid;name\n", "utf-8", ";"},
		{"\xFF\xFEi\x00d\x00", "", "tab"},
		{"\xFE\xFF\x00i\x00", "utf-16", "|"},
		{"\xFF\xFE\x00\xD8", "", ""},
		{"caf\xE9", "windows-1252", "\t"},
		{"\x80\x81", "latin1", "ab"},
	} {
		f.Add([]byte(s.body), s.enc, s.delim)
	}
	f.Fuzz(func(t *testing.T, body []byte, enc, delim string) {
		ParseDelimiter(delim)
		asked, err := ParseEncoding(enc)
		if err != nil {
			asked = ""
		}
		r, got := decodeUpload(bytes.NewReader(body), asked)
		out, err := io.ReadAll(r)
		if err != nil {
			return // a UTF-16 file cut short: reported as the upload's error
		}
		if got != linkd.EncodingUTF8 && !utf8.Valid(out) {
			t.Fatalf("%s upload %q decoded to invalid UTF-8 %q", got, body, out)
		}
	})
}
