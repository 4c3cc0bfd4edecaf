package updater

import (
	"io"

	"github.com/lapps/lapps/limits"
)

// JSONGuard passes JSON through while bounding, as the bytes stream by,
// the length of one string or number (Limits.TokenBytes), the nesting of
// arrays and objects (Limits.JSONDepth) and, optionally, the size of each
// value nested at a given depth (BoundValues). encoding/json's Decoder
// buffers a whole token, and a whole value for Decode, before it looks at
// it: a feed holding a 1 GiB string makes it hold 1 GiB (and several
// times that while growing its buffer). Read through a JSONGuard, the
// decoder gets a *limits.Error once the bound is crossed, so the memory a
// parse takes is bounded by the bounds, not by the input.
//
// It is a small state machine written here because no well-kept Go
// library bounds tokens while streaming: encoding/json and
// encoding/json/v2 (jsontext) only fix a maximum depth of 10,000, and the
// third-party decoders read whole values too. The guard does not validate
// JSON (the decoder does); on input that is not JSON it may count tokens
// loosely, never more loosely than the bytes read.
type JSONGuard struct {
	r    io.Reader
	name string // "JSON document NAME", for errors
	lim  Limits

	state  int8
	token  int64 // bytes of the current string or bare token
	depth  int
	vdepth int   // depth at and below which values are bounded; 0: none
	vmax   int64 // bound of such a value
	vbytes int64 // bytes of the current bounded value
	verr   *limits.Error
	err    error
}

const (
	jsonOutside int8 = iota // between tokens
	jsonString              // inside a string
	jsonEscape              // after a backslash in a string
	jsonBare                // inside a number or literal
)

// NewJSONGuard returns a guard reading JSON from r within l (zero fields:
// their defaults); name is the document's name in the feed, for errors.
func NewJSONGuard(r io.Reader, l Limits, name string) *JSONGuard {
	doc := "JSON document " + name
	if name == "" {
		doc = "a JSON document"
	}
	return &JSONGuard{r: r, name: doc, lim: l.Or(DefaultLimits())}
}

// BoundValues bounds every value nested at depth d (1: the elements of the
// top-level array or object's members are at depth 2, and so on: d counts
// the arrays and objects open around a byte) to n bytes: a value that the
// parser decodes whole with json.Decoder.Decode, such as one issue of the
// Debian tracker's export, cannot make the decoder buffer more. Crossing
// it is err.
func (g *JSONGuard) BoundValues(d int, n int64, err *limits.Error) *JSONGuard {
	g.vdepth, g.vmax, g.verr = d, n, err
	return g
}

// Read implements io.Reader.
func (g *JSONGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, rerr := g.r.Read(p)
	if i, err := g.scan(p[:n]); err != nil {
		g.err = err
		return i, err
	}
	return n, rerr
}

// isBare reports whether c continues a number or a literal.
func isBare(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '-'
}

// scan advances the state machine over b; on a bound crossed it returns
// the offset of the byte that crossed it and the error.
func (g *JSONGuard) scan(b []byte) (int, error) {
	maxTok, maxDepth := g.lim.TokenBytes, g.lim.JSONDepth
	for i := 0; i < len(b); i++ {
		c := b[i]
		if g.vdepth > 0 && g.depth >= g.vdepth {
			g.vbytes++
			if g.vbytes > g.vmax {
				return i, g.verr
			}
		}
		switch g.state {
		case jsonString:
			// The common case: run to the next quote or backslash.
			j := i
			for j < len(b) && b[j] != '"' && b[j] != '\\' {
				j++
			}
			run := int64(j - i)
			g.token += run
			if g.vdepth > 0 && g.depth >= g.vdepth && run > 0 {
				g.vbytes += run - 1 // b[i] was counted above
				if g.vbytes > g.vmax {
					return i, g.verr
				}
			}
			if g.token > maxTok {
				return i, g.tokenError("string")
			}
			if j == len(b) {
				return len(b), nil
			}
			if j > i && g.vdepth > 0 && g.depth >= g.vdepth {
				g.vbytes++ // b[j], reached without the count above
				if g.vbytes > g.vmax {
					return j, g.verr
				}
			}
			i = j
			if b[i] == '"' {
				g.state = jsonOutside
			} else {
				g.state = jsonEscape
				g.token++
			}
		case jsonEscape:
			g.token++
			if g.token > maxTok {
				return i, g.tokenError("string")
			}
			g.state = jsonString
		case jsonBare:
			if isBare(c) {
				g.token++
				if g.token > maxTok {
					return i, g.tokenError("number")
				}
				continue
			}
			g.state = jsonOutside
			fallthrough
		default:
			switch {
			case c == '"':
				g.state, g.token = jsonString, 0
			case c == '{' || c == '[':
				g.depth++
				if g.depth > maxDepth {
					return i, limits.New("nesting of arrays and objects in "+g.name, int64(maxDepth), "levels", KeyMaxJSONDepth)
				}
				if g.vdepth > 0 && g.depth == g.vdepth {
					g.vbytes = 1 // a bounded value starts with this bracket
				}
			case c == '}' || c == ']':
				if g.depth > 0 {
					g.depth--
				}
				if g.depth < g.vdepth {
					g.vbytes = 0
				}
			case isBare(c):
				g.state, g.token = jsonBare, 1
			}
		}
	}
	return len(b), nil
}

func (g *JSONGuard) tokenError(what string) *limits.Error {
	return limits.New("a "+what+" in "+g.name, g.lim.TokenBytes, "bytes", KeyMaxTokenBytes)
}
