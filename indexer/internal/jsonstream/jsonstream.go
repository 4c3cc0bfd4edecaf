// Package jsonstream reads JSON documents of untrusted size token by
// token, in bounded memory, with the semantics of encoding/json's
// Unmarshal for the few fields a cataloger wants.
//
// encoding/json's Unmarshal holds the whole document, and its Decoder
// holds a whole value for Decode and a whole string or number for Token:
// a lock file of tiny entries, or one string of hundreds of megabytes,
// costs memory in proportion. This package walks the document with
// Decoder.Token, never asks it for more than a scalar, and puts under it
// a reader that refuses any single token longer than MaxToken bytes, so
// that the Decoder's buffer stays small whatever the document. No
// well-kept library offers a bound on token size (go-json-experiment's
// jsontext buffers whole tokens too), hence this small package.
package jsonstream

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Bounds of a document.
const (
	// MaxToken is the longest string, number or literal read, in bytes
	// of the document. Real ones are short: the longest are npm readme
	// fields, which the registry truncates to 64 KiB.
	MaxToken = 1 << 20
	// MaxDepth is the deepest nesting read, as in encoding/json.
	MaxDepth = 10000
)

// ErrTokenTooLong is returned for a token longer than MaxToken.
var ErrTokenTooLong = fmt.Errorf("a JSON token longer than %d bytes", MaxToken)

// Decoder reads one JSON document.
type Decoder struct {
	d     *json.Decoder
	g     *guard
	depth int
}

// NewDecoder returns a Decoder reading r. A leading UTF-8 byte order mark
// is not skipped; see SkipBOM.
func NewDecoder(r io.Reader) *Decoder {
	g := &guard{r: bufio.NewReaderSize(r, 64<<10)}
	d := json.NewDecoder(g)
	d.UseNumber() // numbers are skipped, never converted
	return &Decoder{d: d, g: g}
}

// NewDecoderTrimmed is NewDecoder for documents that the code it
// replaces read with bytes.TrimSpace first: leading Unicode white space
// (which JSON does not allow) is skipped, and End allows trailing Unicode
// white space.
func NewDecoderTrimmed(r io.Reader) (*Decoder, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		c, size, err := br.ReadRune()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if !unicode.IsSpace(c) || (c == utf8.RuneError && size == 1) {
			if err := br.UnreadRune(); err != nil {
				return nil, err
			}
			break
		}
	}
	d := NewDecoder(br)
	d.g.trimmed = true
	return d, nil
}

// SkipBOM returns r without a leading UTF-8 byte order mark.
func SkipBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	return br
}

// Token returns the next token: a json.Delim, a string, a json.Number, a
// bool or nil. Callers use the typed methods below; Token is for the
// first token of a document and for what they do not cover.
func (d *Decoder) Token() (json.Token, error) {
	t, err := d.d.Token()
	if err != nil {
		if d.g.err != nil {
			return nil, d.g.err
		}
		return nil, err
	}
	if delim, ok := t.(json.Delim); ok {
		switch delim {
		case '{', '[':
			if d.depth++; d.depth > MaxDepth {
				return nil, fmt.Errorf("JSON nested deeper than %d", MaxDepth)
			}
		case '}', ']':
			d.depth--
		}
	}
	return t, nil
}

// Object reads an object whose opening brace start has been read,
// calling fn with each key; fn must read the key's value (with a typed
// method, or Skip).
func (d *Decoder) Object(fn func(key string) error) error {
	for d.d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("JSON object key %v", t)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return d.expect('}')
}

// Array reads an array whose opening bracket has been read, calling fn
// for each element; fn must read the element.
func (d *Decoder) Array(fn func() error) error {
	for d.d.More() {
		if err := fn(); err != nil {
			return err
		}
	}
	return d.expect(']')
}

func (d *Decoder) expect(delim json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != delim {
		return fmt.Errorf("JSON: %v where %v was expected", t, delim)
	}
	return nil
}

// Skip reads a value and drops it.
func (d *Decoder) Skip() error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	return d.skipRest(t)
}

// skipRest drops the rest of a value whose first token is t.
func (d *Decoder) skipRest(t json.Token) error {
	delim, ok := t.(json.Delim)
	if !ok {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	_ = delim
	return nil
}

// Kind is the JSON type of a value, as encoding/json names it in its
// errors.
func kind(t json.Token) string {
	switch t := t.(type) {
	case json.Delim:
		if t == '{' {
			return "object"
		}
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// TypeError is what Unmarshal reports for a value of the wrong type.
type TypeError struct {
	Value, Type string
}

func (e *TypeError) Error() string {
	return "json: cannot unmarshal " + e.Value + " into Go value of type " + e.Type
}

// String reads a value into *dst as Unmarshal into a string does: a
// string sets it, null leaves it, any other type is a *TypeError (and
// the value is read).
func (d *Decoder) String(dst *string) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case string:
		*dst = v
		return nil
	case nil:
		return nil
	}
	if err := d.skipRest(t); err != nil {
		return err
	}
	return &TypeError{kind(t), "string"}
}

// Bool reads a value into *dst as Unmarshal into a bool does.
func (d *Decoder) Bool(dst *bool) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case bool:
		*dst = v
		return nil
	case nil:
		return nil
	}
	if err := d.skipRest(t); err != nil {
		return err
	}
	return &TypeError{kind(t), "bool"}
}

// Int reads a value into *dst as Unmarshal into an int does.
func (d *Decoder) Int(dst *int) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || int64(int(n)) != n {
			return &TypeError{"number " + string(v), "int"}
		}
		*dst = int(n)
		return nil
	case nil:
		return nil
	}
	if err := d.skipRest(t); err != nil {
		return err
	}
	return &TypeError{kind(t), "int"}
}

// ObjectOrNull reads a value that Unmarshal would decode into a map or a
// struct: an object calls fn for each key and returns true; null returns
// false; any other type is a *TypeError.
func (d *Decoder) ObjectOrNull(fn func(key string) error) (bool, error) {
	t, err := d.Token()
	if err != nil {
		return false, err
	}
	switch t {
	case json.Delim('{'):
		return true, d.Object(fn)
	case nil:
		return false, nil
	}
	if err := d.skipRest(t); err != nil {
		return false, err
	}
	return false, &TypeError{kind(t), "object"}
}

// ArrayOrNull is ObjectOrNull for arrays (a Go slice).
func (d *Decoder) ArrayOrNull(fn func() error) (bool, error) {
	t, err := d.Token()
	if err != nil {
		return false, err
	}
	switch t {
	case json.Delim('['):
		return true, d.Array(fn)
	case nil:
		return false, nil
	}
	if err := d.skipRest(t); err != nil {
		return false, err
	}
	return false, &TypeError{kind(t), "array"}
}

// End checks that nothing but white space follows the document, as
// Unmarshal does.
func (d *Decoder) End() error {
	_, err := d.d.Token()
	if err == io.EOF {
		return nil
	}
	if d.g.err != nil {
		return d.g.err
	}
	if err == nil || !d.g.trimmed {
		return errors.New("JSON: data after the end of the document")
	}
	// A document read with NewDecoderTrimmed may end in Unicode white
	// space, which the Decoder reports as an invalid character.
	rest := d.d.Buffered()
	for {
		c, _, rerr := runeReader(rest).ReadRune()
		if rerr == io.EOF {
			break
		}
		if rerr != nil || !unicode.IsSpace(c) || c == utf8.RuneError {
			return err
		}
	}
	for {
		c, size, rerr := d.g.r.ReadRune()
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if !unicode.IsSpace(c) || (c == utf8.RuneError && size == 1) {
			return err
		}
	}
}

func runeReader(r io.Reader) io.RuneReader {
	if rr, ok := r.(io.RuneReader); ok {
		return rr
	}
	return bufio.NewReader(r)
}

// guard passes a JSON document through, failing once a single token (a
// string with its quotes, or a run of other non-structural characters:
// a number or a literal) is longer than MaxToken bytes. Its view of the
// lexical structure is the Decoder's: strings start and end at
// unescaped quotes.
type guard struct {
	r        *bufio.Reader
	inString bool
	escaped  bool
	run      int
	err      error
	trimmed  bool
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for _, c := range p[:n] {
		switch {
		case g.inString:
			if g.run++; g.run > MaxToken {
				g.err = ErrTokenTooLong
				return 0, g.err
			}
			switch {
			case g.escaped:
				g.escaped = false
			case c == '\\':
				g.escaped = true
			case c == '"':
				g.inString = false
				g.run = 0
			}
		case c == '"':
			g.inString = true
			g.run = 1
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' ||
			c == ' ' || c == '\t' || c == '\n' || c == '\r':
			g.run = 0
		default:
			g.run++
		}
		if g.run > MaxToken {
			g.err = ErrTokenTooLong
			return 0, g.err
		}
	}
	return n, err
}
