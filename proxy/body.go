package proxy

import (
	"bytes"
	"errors"
	"io"

	"github.com/dustin/go-humanize"

	"github.com/linkd-dev/linkd"
)

// replayMax is the largest request body kept in memory so that a retry can
// send it again; a larger one streams through once.
const replayMax = 1 << 20

// body is a request body that can be sent again when it was small enough
// to keep.
type body struct {
	buf    []byte    // the whole body, when replayable
	stream io.Reader // otherwise: what is left to send, once
	size   int64     // -1 when unknown
	used   bool
}

// newBody reads up to replayMax of r; a body that fits is kept whole.
func newBody(r io.Reader, size int64) (*body, error) {
	if r == nil || size == 0 {
		return &body{buf: []byte{}, size: 0}, nil
	}
	if size > replayMax {
		return &body{stream: r, size: size}, nil
	}
	head := make([]byte, 0, min(max(size, 512), replayMax+1))
	buf := bytes.NewBuffer(head)
	n, err := io.Copy(buf, io.LimitReader(r, replayMax+1))
	if err != nil {
		return nil, readError(err)
	}
	if n <= replayMax {
		return &body{buf: buf.Bytes(), size: n}, nil
	}
	return &body{stream: io.MultiReader(bytes.NewReader(buf.Bytes()), r), size: size}, nil
}

// replayable reports whether the body can be sent more than once.
func (b *body) replayable() bool { return b.buf != nil }

// reader returns the body for one attempt; nil for none, and nil again
// for a streamed body already sent.
func (b *body) reader() (io.Reader, int64, bool) {
	if b.buf != nil {
		if len(b.buf) == 0 {
			return nil, 0, true
		}
		return bytes.NewReader(b.buf), int64(len(b.buf)), true
	}
	if b.used {
		return nil, 0, false
	}
	b.used = true
	return b.stream, b.size, true
}

// readError names a failure to read the caller's body: too large, or the
// caller went away.
func readError(err error) error {
	var tooBig *maxBytesError
	if errors.As(err, &tooBig) {
		return &linkd.Error{Code: linkd.ETOOLARGE, Field: "body", Message: tooBig.Error()}
	}
	return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "reading the request body failed: " + err.Error()}
}

// maxBytesError is a body over the proxy's limit.
type maxBytesError struct{ limit int64 }

func (e *maxBytesError) Error() string {
	return "the request body is larger than the proxy's limit of " + humanBytes(e.limit)
}

// limitReader fails with *maxBytesError past limit bytes.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &maxBytesError{l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, &maxBytesError{l.limit}
	}
	return n, err
}

func humanBytes(n int64) string { return humanize.IBytes(uint64(n)) }
