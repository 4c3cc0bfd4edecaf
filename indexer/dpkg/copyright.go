package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer/license"
)

// DocDir holds each package's documentation, among it the copyright
// file usr/share/doc/PACKAGE/copyright.
const DocDir = "usr/share/doc"

// MaxCopyrightBytes is how much of a copyright file is read. The License:
// fields are short and come with their Files: paragraphs, mostly near the
// top; the license texts that follow make the largest files (a few
// megabytes for firmware and TeX packages). Fields past this point are not
// read.
const MaxCopyrightBytes = 1 << 20

// maxCopyrightLine bounds one line of a copyright file: longer lines
// (prose without line breaks) are skipped.
const maxCopyrightLine = 64 << 10

// CopyrightPackage returns the package whose copyright file p is
// ("libc6" for usr/share/doc/libc6/copyright), or "".
func CopyrightPackage(p string) string {
	dir, base := path.Split(p)
	if base != "copyright" {
		return ""
	}
	parent, name := path.Split(strings.TrimSuffix(dir, "/"))
	if parent != DocDir+"/" || !validName(name) || strings.ContainsAny(name[:1], ".-+") {
		return ""
	}
	return name
}

// ParseCopyright reads a Debian copyright file and returns its licenses
// as SPDX expressions (license.Debian) where they translate, as stated
// otherwise: the License: fields of the header paragraph and of the
// Files: paragraphs, in order, without duplicates, at most
// license.MaxPerPackage. Only machine-readable files (DEP-5: a first
// paragraph with a Format: field naming the copyright format) give
// licenses: the free text of other files gives none, not a guess. The
// stand-alone License: paragraphs that hold a license's text add
// nothing the Files: paragraphs do not name. At most MaxCopyrightBytes
// are read.
func ParseCopyright(ctx context.Context, r io.Reader) ([]string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, MaxCopyrightBytes), 16<<10)
	var (
		out    []string
		para   int  // paragraph number, from 0
		inPara bool // in a paragraph
		dep5   bool
		files  bool   // the paragraph has a Files: field
		lic    string // its License: synopsis
		hasLic bool
		lineNo int
	)
	flush := func() {
		if inPara && hasLic && (para == 0 || files) {
			out = license.Add(out, license.Debian(lic))
		}
		if inPara {
			para++
		}
		inPara, files, hasLic, lic = false, false, false, ""
	}
	for {
		line, err := readCopyrightLine(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if lineNo++; lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if line == nil {
			continue // a line too long to be a field
		}
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			if para > 0 && !dep5 {
				return nil, nil
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
			if para == 0 && !dep5 {
				return nil, nil // free text: not machine-readable
			}
			continue
		}
		inPara = true
		val := strings.TrimSpace(string(v))
		switch strings.ToLower(string(k)) {
		case "format", "format-specification":
			if para == 0 && (strings.Contains(val, "copyright-format") || strings.Contains(strings.ToLower(val), "dep5") || strings.Contains(strings.ToLower(val), "dep-5")) {
				dep5 = true
			}
		case "files":
			files = true
		case "license":
			lic, hasLic = val, true
		}
	}
	flush()
	if !dep5 {
		return nil, nil
	}
	return out, nil
}

// readCopyrightLine returns the next line without its line ending, nil
// (and no error) for a line longer than maxCopyrightLine, which it skips,
// and io.EOF when no bytes remain.
func readCopyrightLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			if len(buf) <= maxCopyrightLine {
				buf = append(buf, line...)
			}
		}
		if len(buf) > maxCopyrightLine {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, nil
		}
		line = buf
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}
