package npm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// YAML lock files (pnpm-lock.yaml, Yarn 2+'s yarn.lock) are YAML, which
// gopkg.in/yaml.v3 parses only as a whole document, into a tree that
// costs up to a hundred times the document's size in memory on hostile
// input (a flow sequence of one-character scalars). A document of up to
// maxYAMLDocument bytes is parsed whole, as before. A larger one is read
// in chunks: the block layout pnpm and Yarn write (top-level keys at
// column 0, the entries of a large section one level in) lets each
// top-level entry, and each entry of a large section, be parsed by
// itself, within maxYAMLChunk bytes, so that memory follows the largest
// entry, not the document. No YAML library streams below the document,
// hence this splitter: it only cuts the text at lines where a block
// mapping's entries start, and yaml.v3 still parses every byte.
//
// What the chunked reading refuses that a whole-document parse accepts:
// flow collections or sequences spanning lines at the top level, a
// top-level line that is not a mapping key, anchors and aliases across
// entries. pnpm and Yarn write none of them.
const (
	maxYAMLDocument = 256 << 10
	maxYAMLChunk    = 128 << 10
)

// errYAMLLayout is returned for a large document the chunked reading
// cannot cut.
var errYAMLLayout = errors.New("not in the block layout pnpm and Yarn write")

// yamlChunks reads the first YAML document of r, a block mapping, and
// calls fn with each of its top-level entries (section "", the entry's
// text from its key line on) and, for the top-level keys split says to
// split, with each entry of their block mapping value (section the key,
// the entry's text, indented as in the document). The header line of a
// split section is passed as a top-level entry of its own ("packages:").
// Blank and comment lines go with the entry before them.
func yamlChunks(r io.Reader, split func(key string) bool, fn func(section string, chunk []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		chunk   []byte
		section string // the split section being read, if any
		indent  int    // the indentation of its entries, once known
		started bool   // a document's content has started
		lineNo  int
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		c := chunk
		chunk = chunk[:0]
		if blank(c) {
			return nil
		}
		return fn(section, c)
	}
	for {
		line, err := readYAMLLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		lineNo++
		if bytes.IndexByte(line, 0) >= 0 {
			return fmt.Errorf("line %d: a NUL byte", lineNo)
		}
		text := bytes.TrimRight(line, " \t\r\n")
		switch {
		case len(text) == 0 || text[0] == '#' || (text[0] == ' ' && bytes.TrimLeft(text, " ")[0] == '#'):
			// Blank or comment: with the current entry.
		case text[0] == '%' && !started:
			continue // a directive
		case isMarker(text, "---"):
			if started {
				return flush() // the end of the first document
			}
			started = true
			continue
		case isMarker(text, "..."):
			return flush()
		case text[0] == ' ':
			if !started {
				return fmt.Errorf("line %d: %w", lineNo, errYAMLLayout)
			}
			if section == "" {
				break // inside a top-level entry
			}
			n := len(text) - len(bytes.TrimLeft(text, " "))
			if indent == 0 {
				indent = n
			}
			switch {
			case n == indent:
				// A new entry of the section.
				if err := flush(); err != nil {
					return err
				}
			case n < indent:
				return fmt.Errorf("line %d: %w", lineNo, errYAMLLayout)
			}
		case text[0] == '\t':
			return fmt.Errorf("line %d: %w", lineNo, errYAMLLayout)
		default:
			// A top-level key.
			started = true
			key, rest, ok := topLevelKey(text)
			if !ok {
				return fmt.Errorf("line %d: %w", lineNo, errYAMLLayout)
			}
			if err := flush(); err != nil {
				return err
			}
			section, indent = "", 0
			if rest == "" && split(key) {
				if err := fn("", line); err != nil {
					return err
				}
				section = key
				continue
			}
		}
		if len(chunk)+len(line) > maxYAMLChunk {
			return fmt.Errorf("line %d: an entry larger than %d bytes", lineNo, maxYAMLChunk)
		}
		chunk = append(chunk, line...)
	}
	return flush()
}

// blank reports whether a chunk holds only blank and comment lines.
func blank(c []byte) bool {
	for _, line := range bytes.Split(c, []byte("\n")) {
		t := bytes.TrimLeft(line, " \t\r")
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

// readYAMLLine returns the next line with its newline, refusing lines
// longer than maxYAMLChunk.
func readYAMLLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > maxYAMLChunk {
			return nil, fmt.Errorf("a line longer than %d bytes", maxYAMLChunk)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return append(line, '\n'), nil
		case err != nil:
			return nil, err
		}
		return line, nil
	}
}

// isMarker reports whether a line is a document marker ("---", "..."),
// alone or followed by a comment.
func isMarker(text []byte, m string) bool {
	rest, ok := bytes.CutPrefix(text, []byte(m))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || (rest[0] == '#' && len(rest) < len(text)-len(m))
}

// topLevelKey splits a line at column 0 that starts a block mapping
// entry: a plain or quoted key, a colon, and what follows it (without a
// comment). Anything else (a sequence entry, a flow collection, an
// anchor or a tag, a plain scalar) is not a top-level key of the layout.
func topLevelKey(text []byte) (key, rest string, ok bool) {
	var k []byte
	switch c := text[0]; c {
	case '"', '\'':
		end := -1
		for i := 1; i < len(text); i++ {
			if c == '"' && text[i] == '\\' {
				i++
				continue
			}
			if text[i] == c {
				if c == '\'' && i+1 < len(text) && text[i+1] == '\'' {
					i++ // '' is a quote in a single-quoted scalar
					continue
				}
				end = i
				break
			}
		}
		if end < 0 {
			return "", "", false
		}
		k, text = text[1:end], text[end+1:]
		if len(text) == 0 || text[0] != ':' {
			return "", "", false
		}
		text = text[1:]
	case '-', '[', '{', '&', '*', '!', '?', '|', '>', '@', '`', ',', ']', '}':
		return "", "", false
	default:
		i := bytes.Index(text, []byte(": "))
		if i < 0 {
			if text[len(text)-1] != ':' {
				return "", "", false
			}
			i = len(text) - 1
		}
		k, text = text[:i], text[i+1:]
	}
	text = bytes.TrimLeft(text, " \t")
	if len(text) > 0 && text[0] == '#' {
		text = nil
	}
	return string(k), string(text), true
}
