// Package jsonstream reads JSON documents of untrusted size in bounded
// memory and time, with the semantics of encoding/json's Unmarshal for
// the few fields a cataloger wants.
//
// encoding/json's Unmarshal holds the whole document; its Decoder holds a
// whole value for Decode and a whole string or number for Token, and
// Token allocates for every token, which makes skipping a document of
// tiny keys cost some forty times its size in allocations. This package
// is a small recursive-descent reader instead: the caller walks the
// objects and arrays it cares about (Object, Array) and reads the values
// it wants (String, Bool, Int); everything else is validated and skipped
// byte by byte, without being held. Only the strings and numbers a
// caller keeps, and object keys, are held, up to MaxToken bytes each;
// a string is decoded by encoding/json itself, so that escapes, invalid
// UTF-8 and surrogates come out as Unmarshal would give them. What it
// accepts is what json.Valid accepts (FuzzSkip checks it).
package jsonstream

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Bounds of a document.
const (
	// MaxToken is the longest object key, or string or number kept,
	// in bytes of the document. Real ones are short. Skipped values are
	// not bounded: they are never held.
	MaxToken = 1 << 20
	// MaxDepth is the deepest nesting read, as in encoding/json.
	MaxDepth = 10000
)

// ErrTokenTooLong is returned for a key, or a value kept, longer than
// MaxToken.
var ErrTokenTooLong = fmt.Errorf("a JSON token longer than %d bytes", MaxToken)

// Decoder reads one JSON document.
type Decoder struct {
	r       *bufio.Reader
	depth   int
	off     int64
	trimmed bool
	buf     []byte
}

// NewDecoder returns a Decoder reading r. A leading UTF-8 byte order mark
// is not skipped; see SkipBOM.
func NewDecoder(r io.Reader) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Decoder{r: br}
}

// NewDecoderTrimmed is NewDecoder for documents that the code it
// replaces read with bytes.TrimSpace first: leading Unicode white space
// (which JSON does not allow) is skipped, and End allows trailing Unicode
// white space.
func NewDecoderTrimmed(r io.Reader) (*Decoder, error) {
	d := NewDecoder(r)
	d.trimmed = true
	if err := d.skipUnicodeSpace(); err != nil && err != io.EOF {
		return nil, err
	}
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

// SyntaxError is a document that is not JSON.
type SyntaxError struct {
	Msg    string
	Offset int64
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("JSON: %s at byte %d", e.Msg, e.Offset)
}

func (d *Decoder) syntax(format string, args ...any) error {
	return &SyntaxError{fmt.Sprintf(format, args...), d.off}
}

// readByte returns the next byte; at the end of the input, a syntax
// error (a document cannot end there) or the read error.
func (d *Decoder) readByte() (byte, error) {
	c, err := d.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, d.syntax("unexpected end of input")
		}
		return 0, err
	}
	d.off++
	return c, nil
}

// peek returns the next byte that is not white space, without reading
// it; io.EOF at the end of the input.
func (d *Decoder) peek() (byte, error) {
	for {
		b, err := d.r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			d.r.Discard(1)
			d.off++
			continue
		}
		return b[0], nil
	}
}

// peekValue is peek where a value must follow.
func (d *Decoder) peekValue() (byte, error) {
	c, err := d.peek()
	if err == io.EOF {
		return 0, d.syntax("unexpected end of input")
	}
	return c, err
}

// Peek returns the first byte of the next value without reading it:
// '"' for a string, '{' an object, '[' an array, 'n' null, 't' or 'f' a
// boolean, '-' or a digit a number.
func (d *Decoder) Peek() (byte, error) { return d.peekValue() }

func (d *Decoder) consume() { d.r.Discard(1); d.off++ }

// Token returns the next value's first token: json.Delim('{') or
// json.Delim('[') (whose contents Object or Array then read), a string,
// a json.Number, a bool or nil.
func (d *Decoder) Token() (json.Token, error) {
	c, err := d.peekValue()
	if err != nil {
		return nil, err
	}
	switch c {
	case '{', '[':
		d.consume()
		if d.depth++; d.depth > MaxDepth {
			return nil, fmt.Errorf("JSON nested deeper than %d", MaxDepth)
		}
		return json.Delim(c), nil
	case '"':
		b, err := d.readString(true)
		if err != nil {
			return nil, err
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		return s, nil
	case 't', 'f', 'n':
		return d.readLiteral()
	}
	if c == '-' || (c >= '0' && c <= '9') {
		b, err := d.readNumber(true)
		if err != nil {
			return nil, err
		}
		return json.Number(b), nil
	}
	return nil, d.syntax("invalid character %q looking for a value", c)
}

// Object reads an object whose opening brace has been read, calling fn
// with each key; fn must read the key's value (with a typed method, or
// Skip).
func (d *Decoder) Object(fn func(key string) error) error {
	for first := true; ; first = false {
		c, err := d.peekValue()
		if err != nil {
			return err
		}
		if c == '}' && first {
			d.consume()
			d.depth--
			return nil
		}
		if !first {
			switch c {
			case '}':
				d.consume()
				d.depth--
				return nil
			case ',':
				d.consume()
				if c, err = d.peekValue(); err != nil {
					return err
				}
			default:
				return d.syntax("invalid character %q after an object value", c)
			}
		}
		if c != '"' {
			return d.syntax("invalid character %q looking for an object key", c)
		}
		b, err := d.readString(true)
		if err != nil {
			return err
		}
		var key string
		if err := json.Unmarshal(b, &key); err != nil {
			return err
		}
		if c, err = d.peekValue(); err != nil {
			return err
		}
		if c != ':' {
			return d.syntax("invalid character %q after an object key", c)
		}
		d.consume()
		if err := fn(key); err != nil {
			return err
		}
	}
}

// Array reads an array whose opening bracket has been read, calling fn
// for each element; fn must read the element.
func (d *Decoder) Array(fn func() error) error {
	for first := true; ; first = false {
		c, err := d.peekValue()
		if err != nil {
			return err
		}
		if c == ']' && first {
			d.consume()
			d.depth--
			return nil
		}
		if !first {
			switch c {
			case ']':
				d.consume()
				d.depth--
				return nil
			case ',':
				d.consume()
			default:
				return d.syntax("invalid character %q after an array element", c)
			}
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// Skip reads a value and drops it, holding nothing of it.
func (d *Decoder) Skip() error {
	c, err := d.peekValue()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		d.consume()
		if d.depth++; d.depth > MaxDepth {
			return fmt.Errorf("JSON nested deeper than %d", MaxDepth)
		}
		return d.Object(func(string) error { return d.Skip() })
	case '[':
		d.consume()
		if d.depth++; d.depth > MaxDepth {
			return fmt.Errorf("JSON nested deeper than %d", MaxDepth)
		}
		return d.Array(d.Skip)
	case '"':
		_, err := d.readString(false)
		return err
	case 't', 'f', 'n':
		_, err := d.readLiteral()
		return err
	}
	if c == '-' || (c >= '0' && c <= '9') {
		_, err := d.readNumber(false)
		return err
	}
	return d.syntax("invalid character %q looking for a value", c)
}

// readString reads a string, its quotes included; keep holds it (up to
// MaxToken bytes) and returns it, otherwise it is only validated.
func (d *Decoder) readString(keep bool) ([]byte, error) {
	if keep {
		d.buf = d.buf[:0]
	}
	put := func(c byte) error {
		if keep {
			if len(d.buf) >= MaxToken {
				return ErrTokenTooLong
			}
			d.buf = append(d.buf, c)
		}
		return nil
	}
	c, err := d.readByte() // the opening quote
	if err != nil {
		return nil, err
	}
	if err := put(c); err != nil {
		return nil, err
	}
	for {
		c, err := d.readByte()
		if err != nil {
			return nil, err
		}
		if err := put(c); err != nil {
			return nil, err
		}
		switch {
		case c == '"':
			return d.buf, nil
		case c < 0x20:
			return nil, d.syntax("invalid character %q in a string", c)
		case c == '\\':
			e, err := d.readByte()
			if err != nil {
				return nil, err
			}
			if err := put(e); err != nil {
				return nil, err
			}
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for i := 0; i < 4; i++ {
					h, err := d.readByte()
					if err != nil {
						return nil, err
					}
					if !isHex(h) {
						return nil, d.syntax("invalid character %q in a \\u escape", h)
					}
					if err := put(h); err != nil {
						return nil, err
					}
				}
			default:
				return nil, d.syntax("invalid escape %q", e)
			}
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// readLiteral reads true, false or null.
func (d *Decoder) readLiteral() (json.Token, error) {
	c, _ := d.readByte()
	var rest string
	var v json.Token
	switch c {
	case 't':
		rest, v = "rue", true
	case 'f':
		rest, v = "alse", false
	default:
		rest, v = "ull", nil
	}
	for i := 0; i < len(rest); i++ {
		b, err := d.readByte()
		if err != nil {
			return nil, err
		}
		if b != rest[i] {
			return nil, d.syntax("invalid character %q in a literal", b)
		}
	}
	return v, d.checkEnd()
}

// checkEnd checks that a literal or a number is followed by white space,
// a delimiter or the end of the input.
func (d *Decoder) checkEnd() error {
	b, err := d.r.Peek(1)
	if err != nil {
		return nil
	}
	switch b[0] {
	case ' ', '\t', '\n', '\r', ',', '}', ']', ':':
		return nil
	}
	return d.syntax("invalid character %q after a value", b[0])
}

// readNumber reads a number as JSON's grammar has it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. keep holds it (up to
// MaxToken bytes) and returns it.
func (d *Decoder) readNumber(keep bool) ([]byte, error) {
	if keep {
		d.buf = d.buf[:0]
	}
	next := func() (byte, bool) {
		b, err := d.r.Peek(1)
		if err != nil {
			return 0, false
		}
		return b[0], true
	}
	take := func() error {
		c, _ := d.r.ReadByte()
		d.off++
		if keep {
			if len(d.buf) >= MaxToken {
				return ErrTokenTooLong
			}
			d.buf = append(d.buf, c)
		}
		return nil
	}
	digits := func() (int, error) {
		n := 0
		for {
			c, ok := next()
			if !ok || c < '0' || c > '9' {
				return n, nil
			}
			if err := take(); err != nil {
				return n, err
			}
			n++
		}
	}
	if c, _ := next(); c == '-' {
		if err := take(); err != nil {
			return nil, err
		}
	}
	c, ok := next()
	switch {
	case !ok:
		return nil, d.syntax("unexpected end of input in a number")
	case c == '0':
		if err := take(); err != nil {
			return nil, err
		}
	case c >= '1' && c <= '9':
		if _, err := digits(); err != nil {
			return nil, err
		}
	default:
		return nil, d.syntax("invalid character %q in a number", c)
	}
	if c, ok := next(); ok && c == '.' {
		if err := take(); err != nil {
			return nil, err
		}
		if n, err := digits(); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, d.syntax("a number without digits after its point")
		}
	}
	if c, ok := next(); ok && (c == 'e' || c == 'E') {
		if err := take(); err != nil {
			return nil, err
		}
		if c, ok := next(); ok && (c == '+' || c == '-') {
			if err := take(); err != nil {
				return nil, err
			}
		}
		if n, err := digits(); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, d.syntax("a number without digits in its exponent")
		}
	}
	return d.buf, d.checkEnd()
}

// kind is the JSON type of a value whose first byte is c, as
// encoding/json names it in its errors.
func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// TypeError is what Unmarshal reports for a value of the wrong type.
type TypeError struct {
	Value, Type string
}

func (e *TypeError) Error() string {
	return "json: cannot unmarshal " + e.Value + " into Go value of type " + e.Type
}

// typed reads a value for a typed method: read is called when the
// value's first byte is want; null leaves the destination; any other
// value is skipped and is a *TypeError.
func (d *Decoder) typed(want byte, typ string, read func() error) error {
	c, err := d.peekValue()
	if err != nil {
		return err
	}
	switch {
	case c == want || (want == 't' && c == 'f') || (want == '0' && (c == '-' || c >= '0' && c <= '9')):
		return read()
	case c == 'n':
		_, err := d.readLiteral()
		return err
	}
	if err := d.Skip(); err != nil {
		return err
	}
	return &TypeError{kind(c), typ}
}

// String reads a value into *dst as Unmarshal into a string does: a
// string sets it, null leaves it, any other type is a *TypeError (and
// the value is read).
func (d *Decoder) String(dst *string) error {
	return d.typed('"', "string", func() error {
		b, err := d.readString(true)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, dst)
	})
}

// Bool reads a value into *dst as Unmarshal into a bool does.
func (d *Decoder) Bool(dst *bool) error {
	return d.typed('t', "bool", func() error {
		v, err := d.readLiteral()
		if err != nil {
			return err
		}
		*dst = v.(bool)
		return nil
	})
}

// Int reads a value into *dst as Unmarshal into an int does.
func (d *Decoder) Int(dst *int) error {
	return d.typed('0', "int", func() error {
		b, err := d.readNumber(true)
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || int64(int(n)) != n {
			return &TypeError{"number " + string(b), "int"}
		}
		*dst = int(n)
		return nil
	})
}

// ObjectOrNull reads a value that Unmarshal would decode into a map or a
// struct: an object calls fn for each key and returns true; null returns
// false; any other type is a *TypeError.
func (d *Decoder) ObjectOrNull(fn func(key string) error) (bool, error) {
	isObject := false
	err := d.typed('{', "object", func() error {
		d.consume()
		if d.depth++; d.depth > MaxDepth {
			return fmt.Errorf("JSON nested deeper than %d", MaxDepth)
		}
		isObject = true
		return d.Object(fn)
	})
	return isObject, err
}

// ArrayOrNull is ObjectOrNull for arrays (a Go slice).
func (d *Decoder) ArrayOrNull(fn func() error) (bool, error) {
	isArray := false
	err := d.typed('[', "array", func() error {
		d.consume()
		if d.depth++; d.depth > MaxDepth {
			return fmt.Errorf("JSON nested deeper than %d", MaxDepth)
		}
		isArray = true
		return d.Array(fn)
	})
	return isArray, err
}

// End checks that nothing but white space follows the document, as
// Unmarshal does.
func (d *Decoder) End() error {
	c, err := d.peek()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if d.trimmed {
		if err := d.skipUnicodeSpace(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
	return d.syntax("invalid character %q after the top-level value", c)
}

// skipUnicodeSpace skips Unicode white space, as bytes.TrimSpace trims
// it, and returns io.EOF if nothing else follows.
func (d *Decoder) skipUnicodeSpace() error {
	for {
		r, size, err := d.r.ReadRune()
		if err != nil {
			return err
		}
		if !unicode.IsSpace(r) || (r == utf8.RuneError && size == 1) {
			return d.r.UnreadRune()
		}
		d.off += int64(size)
	}
}
