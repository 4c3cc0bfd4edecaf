package java

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/lapps/lapps/indexer/license"
)

// maxPoms bounds the pom.xml files of one archive whose licenses are
// kept: a fat jar bundles a few hundred at most.
const maxPoms = 4096

// PomLicenses returns the licenses a pom.xml declares, its
// project/licenses/license/name elements, normalised
// (license.Normalize: "The Apache Software License, Version 2.0" →
// Apache-2.0), at most license.MaxPerPackage. A pom without them, or
// that is not XML, gives none: licenses inherited from a parent pom,
// which the archive does not hold, are not known. The caller bounds the
// size of b; the decoder reads it token by token.
func PomLicenses(b []byte) []string {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	var (
		stack []string
		text  strings.Builder
		out   []string
	)
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return out
		}
		switch t := t.(type) {
		case xml.StartElement:
			if len(stack) >= 8 {
				// Deeper than project/licenses/license/name: skip.
				if err := d.Skip(); err != nil {
					return out
				}
				continue
			}
			stack = append(stack, t.Name.Local)
			text.Reset()
		case xml.CharData:
			if isLicenseName(stack) && text.Len() < license.MaxLen+1 {
				text.Write(t)
			}
		case xml.EndElement:
			if isLicenseName(stack) {
				out = license.Add(out, license.Normalize(text.String()))
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// isLicenseName reports whether the element path is
// project/licenses/license/name.
func isLicenseName(stack []string) bool {
	return len(stack) == 4 && stack[0] == "project" && stack[1] == "licenses" && stack[2] == "license" && stack[3] == "name"
}
