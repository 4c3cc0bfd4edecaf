// Package limits is how lapps reports a bound on untrusted input that was
// crossed: bytes of a manifest, layers of an image, entries of a layer,
// packages of an image, bytes of a feed. Every bound is one *Error, which
// names what was bounded, the bound, and the configuration key that
// changes it, and matches ErrExceeded with errors.Is, so that the command
// line maps every one of them to one exit code and the server to one
// error code.
package limits

import (
	"errors"
	"fmt"
	"io"
)

// ErrExceeded is matched (errors.Is) by every *Error.
var ErrExceeded = errors.New("limit exceeded")

// Error reports that input crossed a bound.
type Error struct {
	// What was bounded, as the user knows it: "image configuration",
	// "layers of the image", "decompressed bytes of layer sha256:…".
	What string
	// Limit is the bound, in Unit.
	Limit int64
	// Unit is "bytes", "layers", "entries", "packages", …
	Unit string
	// Key is the configuration key that sets the bound ("limits.layers"),
	// or "" when it cannot be changed.
	Key string
}

// New returns an *Error.
func New(what string, limit int64, unit, key string) *Error {
	return &Error{What: what, Limit: limit, Unit: unit, Key: key}
}

// Error implements error: "image configuration: more than 16777216 bytes
// (limit set by limits.metadata_bytes)".
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: more than %d %s", e.What, e.Limit, e.Unit)
	if e.Key != "" {
		s += " (limit set by " + e.Key + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrExceeded) true.
func (e *Error) Is(target error) bool { return target == ErrExceeded }

// Reader returns a reader of r that yields at most n bytes and then, if r
// has more, the error err instead of a silent truncation. n < 0 means no
// bound.
func Reader(r io.Reader, n int64, err *Error) io.Reader {
	if n < 0 {
		return r
	}
	return &reader{r: r, left: n, err: err}
}

type reader struct {
	r    io.Reader
	left int64
	err  *Error
}

func (l *reader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Only an error if there is more to read.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, l.err
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// ReadAll reads r to its end, at most n bytes; more is err.
func ReadAll(r io.Reader, n int64, err *Error) ([]byte, error) {
	return io.ReadAll(Reader(r, n, err))
}
