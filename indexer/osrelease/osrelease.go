// Package osrelease finds the distribution of an image: os-release(5)
// files (etc/os-release, usr/lib/os-release) and the vendor release files
// that older images and minimal ones carry (etc/alpine-release,
// etc/debian_version, etc/redhat-release and its kin, etc/lsb-release),
// and the content manifests of Red Hat images
// (root/buildinfo/content_manifests/*.json, see contentmanifest.go).
//
// Each file gives a Distribution of its own; Merge combines them, with
// this precedence: etc/os-release, then usr/lib/os-release, then the
// vendor files. os-release names the distribution; vendor files fill what
// it leaves empty and give the more precise Version ("12.8" where
// os-release says "12").
package osrelease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// MaxSize is the largest release file read. Real ones are well under a
// kilobyte; a larger file is refused rather than read into memory.
const MaxSize = 64 << 10

// Paths of the os-release files, in order of precedence.
const (
	EtcOSRelease = "etc/os-release"
	LibOSRelease = "usr/lib/os-release"
)

// fileKind says how a wanted file is parsed.
type fileKind int

const (
	kindOSRelease fileKind = iota
	kindAlpine
	kindDebian
	kindRedHat
	kindLSB
)

// files are the wanted paths and how each is parsed.
var files = map[string]fileKind{
	EtcOSRelease:            kindOSRelease,
	LibOSRelease:            kindOSRelease,
	"etc/alpine-release":    kindAlpine,
	"etc/debian_version":    kindDebian,
	"etc/redhat-release":    kindRedHat,
	"etc/centos-release":    kindRedHat,
	"etc/almalinux-release": kindRedHat,
	"etc/rocky-release":     kindRedHat,
	"etc/fedora-release":    kindRedHat,
	"etc/oracle-release":    kindRedHat,
	"etc/system-release":    kindRedHat,
	"etc/lsb-release":       kindLSB,
}

// Cataloger reads os-release and vendor release files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the os-release cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "os-release" }

// Wants implements indexer.Cataloger: the os-release files and the vendor
// release files.
func (Cataloger) Wants(p string) bool {
	_, ok := files[p]
	return ok || isContentManifest(p)
}

// Parse implements indexer.Cataloger. A file that names no distribution
// at all is an error.
func (Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	if isContentManifest(p) {
		d, err := parseContentManifest(p, r)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		return indexer.Result{Distribution: d}, nil
	}
	kind, ok := files[p]
	if !ok {
		return indexer.Result{}, fmt.Errorf("parse %s: not a release file", p)
	}
	b, err := readLimited(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	var d *vuln.Distribution
	switch kind {
	case kindOSRelease:
		d, err = ParseOSRelease(b)
	case kindAlpine:
		d, err = parseAlpine(b)
	case kindDebian:
		d, err = parseDebianVersion(b)
	case kindRedHat:
		d, err = parseRedHat(p, b)
	case kindLSB:
		d, err = parseLSB(b)
	}
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Distribution: d}, nil
}

// readLimited reads all of r, refusing more than MaxSize bytes.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxSize)
	}
	return b, nil
}

// errEmpty is returned for files that name no distribution.
var errEmpty = errors.New("no distribution named")

// Precedence ranks release files for Merge: 0 for etc/os-release, 1 for
// usr/lib/os-release, 2 for the vendor files. Lower ranks win.
func Precedence(p string) int {
	switch p {
	case EtcOSRelease:
		return 0
	case LibOSRelease:
		return 1
	}
	return 2
}

// Merge combines the distributions of several release files, given in
// order of precedence (see Precedence; nil entries are skipped). The first
// names the distribution; each later one whose ID agrees (or is unknown)
// fills the fields still empty, and replaces Version when its own is more
// precise: "12.8" replaces "12", "22.04" does not replace "22.04.3". A
// later file naming another distribution, such as the debian_version of
// an Ubuntu image, is ignored. Merge returns nil when no distribution is
// given.
func Merge(ds ...*vuln.Distribution) *vuln.Distribution {
	var out *vuln.Distribution
	for _, d := range ds {
		if d == nil {
			continue
		}
		if out == nil {
			c := *d
			out = &c
			continue
		}
		if d.ID != "" && out.ID != "" && !strings.EqualFold(d.ID, out.ID) {
			continue
		}
		if morePrecise(d.Version, out.Version) {
			out.Version = d.Version
		}
		fill(&out.ID, d.ID)
		fill(&out.VersionID, d.VersionID)
		fill(&out.VersionCodename, d.VersionCodename)
		fill(&out.PrettyName, d.PrettyName)
		fill(&out.Name, d.Name)
		fill(&out.IDLike, d.IDLike)
		fill(&out.CPE, d.CPE)
		fill(&out.Version, d.Version)
	}
	return out
}

// morePrecise reports whether version a refines b: b is empty, or a
// continues b with a further dotted component.
func morePrecise(a, b string) bool {
	if a == "" {
		return false
	}
	return b == "" || strings.HasPrefix(a, b+".")
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// ParseOSRelease parses an os-release(5) file: KEY=value assignments, one
// a line, with shell-like single and double quotes and backslash escapes;
// comments and blank lines are ignored, and so are lines that are not
// assignments (as systemd does). ID is lower-cased. When
// VERSION_CODENAME is missing it comes from UBUNTU_CODENAME or from a
// one-word codename in VERSION's parentheses ("9 (stretch)"). Version is
// the most precise version os-release gives: VERSION's leading number when
// it refines VERSION_ID ("22.04.3" of "22.04.3 LTS (Jammy Jellyfish)"),
// otherwise VERSION_ID. It is an error when the file names no
// distribution (no ID, NAME, VERSION_ID or PRETTY_NAME).
func ParseOSRelease(b []byte) (*vuln.Distribution, error) {
	vars := parseAssignments(b)
	d := &vuln.Distribution{
		ID:              strings.ToLower(vars["ID"]),
		VersionID:       vars["VERSION_ID"],
		VersionCodename: vars["VERSION_CODENAME"],
		PrettyName:      vars["PRETTY_NAME"],
		Name:            vars["NAME"],
		IDLike:          vars["ID_LIKE"],
		CPE:             vars["CPE_NAME"],
	}
	if d.ID == "" && d.Name == "" && d.VersionID == "" && d.PrettyName == "" {
		return nil, errEmpty
	}
	version := vars["VERSION"]
	if d.VersionCodename == "" {
		d.VersionCodename = vars["UBUNTU_CODENAME"]
	}
	if d.VersionCodename == "" {
		d.VersionCodename = parenCodename(version)
	}
	d.Version = d.VersionID
	if n := leadingVersion(version); morePrecise(n, d.VersionID) && d.VersionID != "" {
		d.Version = n
	}
	return d, nil
}

// parenCodename returns the codename in "9 (stretch)": a single lower-case
// word in parentheses. Names such as "(Shamrock Pampas Cat)" or "(Core)"
// are release names, not codenames, and give "".
func parenCodename(version string) string {
	i := strings.IndexByte(version, '(')
	j := strings.LastIndexByte(version, ')')
	if i < 0 || j < i {
		return ""
	}
	w := version[i+1 : j]
	if w == "" {
		return ""
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return ""
		}
	}
	return w
}

// leadingVersion returns the leading run of digits and dots of s.
func leadingVersion(s string) string {
	i := 0
	for i < len(s) && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	return strings.TrimRight(s[:i], ".")
}

// parseAssignments returns the variables of a shell-like KEY=value file.
// Lines that are not valid assignments are skipped; a later assignment
// of a key replaces an earlier one.
func parseAssignments(b []byte) map[string]string {
	vars := map[string]string{}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || !validKey(k) {
			continue
		}
		val, err := unquote(string(v))
		if err != nil {
			continue
		}
		vars[string(k)] = val
	}
	return vars
}

// validKey reports whether k is a variable name: letters, digits and
// underscores, not starting with a digit.
func validKey(k []byte) bool {
	if len(k) == 0 || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range k {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// unquote expands the value of an assignment as a shell would, without
// variable or command expansion (os-release(5): "variable assignment
// values must be enclosed in double or single quotes if they include
// spaces, semicolons or other special characters outside of A–Z, a–z,
// 0–9 … Shell special characters ("$", quotes, backslash, backtick) must
// be escaped with backslashes"). Quoted and unquoted parts may follow
// each other; unquoted whitespace is kept, as systemd keeps it. An
// unterminated quote is an error.
func unquote(s string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", errors.New("unterminated single quote")
			}
			sb.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				sb.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", errors.New("unterminated double quote")
			}
		case c == '\\':
			if i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
			}
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

// firstLine returns the first non-blank line of b, trimmed.
func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// printable reports whether s is a plausible one-line release string:
// printable characters only.
func printable(s string) bool {
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return s != ""
}

// parseAlpine parses etc/alpine-release: one line, "3.20.3".
func parseAlpine(b []byte) (*vuln.Distribution, error) {
	v := firstLine(b)
	if v == "" || v[0] < '0' || v[0] > '9' || strings.ContainsAny(v, " \t") || !printable(v) {
		return nil, fmt.Errorf("alpine-release: not a version: %q", truncate(v))
	}
	return &vuln.Distribution{ID: "alpine", VersionID: v, Version: v}, nil
}

// parseDebianVersion parses etc/debian_version: a point release ("12.8",
// "9.13") or, on testing and unstable, "codename/sid".
func parseDebianVersion(b []byte) (*vuln.Distribution, error) {
	v := firstLine(b)
	if v == "" || strings.ContainsAny(v, " \t") || !printable(v) {
		return nil, fmt.Errorf("debian_version: not a version: %q", truncate(v))
	}
	d := &vuln.Distribution{ID: "debian"}
	if v[0] >= '0' && v[0] <= '9' {
		d.Version = v
		d.VersionID, _, _ = strings.Cut(v, ".")
		return d, nil
	}
	codename, _, _ := strings.Cut(v, "/")
	if codename == "" {
		return nil, fmt.Errorf("debian_version: not a version: %q", truncate(v))
	}
	d.VersionCodename = strings.ToLower(codename)
	return d, nil
}

// redHatIDs maps the names of redhat-release style files to os-release
// IDs, longest prefix first.
var redHatIDs = []struct{ prefix, id string }{
	{"red hat enterprise linux", "rhel"},
	{"almalinux", "almalinux"},
	{"rocky linux", "rocky"},
	{"centos", "centos"},
	{"fedora", "fedora"},
	{"amazon linux", "amzn"},
	{"oracle linux", "ol"},
	{"scientific linux", "scientific"},
	{"eurolinux", "eurolinux"},
	{"cloudlinux", "cloudlinux"},
	{"openeuler", "openeuler"},
}

// majorVersionIDs are the distributions whose os-release VERSION_ID is
// the major version only ("CentOS Linux release 7.9.2009" has
// VERSION_ID="7").
var majorVersionIDs = map[string]bool{"centos": true, "amzn": true, "fedora": true}

// parseRedHat parses a redhat-release style file: "AlmaLinux release 9.3
// (Shamrock Pampas Cat)", "CentOS Linux release 7.9.2009 (Core)",
// "Fedora release 39 (Thirty Nine)". A name it does not know becomes the
// lower-cased first word, or comes from the file name
// (etc/rocky-release → rocky).
func parseRedHat(p string, b []byte) (*vuln.Distribution, error) {
	line := firstLine(b)
	name, rest, ok := cutWord(line, " release ")
	if !ok || name == "" || !printable(line) {
		return nil, fmt.Errorf("not a \"NAME release VERSION\" line: %q", truncate(line))
	}
	version, codename := rest, ""
	if i := strings.IndexByte(rest, '('); i >= 0 {
		version = strings.TrimSpace(rest[:i])
		if j := strings.LastIndexByte(rest, ')'); j > i {
			codename = strings.TrimSpace(rest[i+1 : j])
		}
	}
	version, _, _ = strings.Cut(version, " ")
	if version == "" || version[0] < '0' || version[0] > '9' {
		return nil, fmt.Errorf("no version in %q", truncate(line))
	}
	d := &vuln.Distribution{ID: redHatID(p, name), Name: name, Version: version, VersionID: version}
	if majorVersionIDs[d.ID] {
		d.VersionID, _, _ = strings.Cut(version, ".")
	}
	if codename != "" {
		d.PrettyName = line
	}
	return d, nil
}

// cutWord is strings.Cut, ASCII-case-insensitive in sep. (Lower-casing s
// first would not do: it changes the length of invalid UTF-8.)
func cutWord(s, sep string) (before, after string, found bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if asciiEqualFold(s[i:i+len(sep)], sep) {
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+len(sep):]), true
		}
	}
	return s, "", false
}

// asciiEqualFold reports whether a and b, of equal length, are equal
// under ASCII case folding.
func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// redHatID returns the os-release ID of a redhat-release style name.
func redHatID(p, name string) string {
	lower := strings.ToLower(name)
	for _, r := range redHatIDs {
		if strings.HasPrefix(lower, r.prefix) {
			return r.id
		}
	}
	switch p {
	case "etc/almalinux-release":
		return "almalinux"
	case "etc/rocky-release":
		return "rocky"
	case "etc/centos-release":
		return "centos"
	case "etc/fedora-release":
		return "fedora"
	case "etc/oracle-release":
		return "ol"
	}
	first, _, _ := strings.Cut(lower, " ")
	return first
}

// parseLSB parses etc/lsb-release: DISTRIB_ID, DISTRIB_RELEASE,
// DISTRIB_CODENAME and DISTRIB_DESCRIPTION assignments. Version is set
// only where the description refines the release ("Ubuntu 22.04.3 LTS").
func parseLSB(b []byte) (*vuln.Distribution, error) {
	vars := parseAssignments(b)
	d := &vuln.Distribution{
		ID:              strings.ToLower(vars["DISTRIB_ID"]),
		VersionID:       vars["DISTRIB_RELEASE"],
		VersionCodename: vars["DISTRIB_CODENAME"],
		PrettyName:      vars["DISTRIB_DESCRIPTION"],
	}
	if d.ID == "" {
		return nil, fmt.Errorf("lsb-release: %w", errEmpty)
	}
	if d.VersionID != "" {
		for _, w := range strings.Fields(d.PrettyName) {
			if n := leadingVersion(w); n == d.VersionID || morePrecise(n, d.VersionID) {
				d.Version = n
				break
			}
		}
	}
	return d, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
