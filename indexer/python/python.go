// Package python finds installed Python distributions: the core metadata
// files pip, setuptools and Debian leave in site-packages and
// dist-packages (*.dist-info/METADATA, *.egg-info/PKG-INFO, *.egg-info
// files and *.egg/EGG-INFO/PKG-INFO).
package python

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// Cataloger reads Python core metadata files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the Python cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "python" }

// Wants implements indexer.Cataloger: the metadata file of a distribution
// installed under a site-packages or dist-packages directory.
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	parent := path.Base(dir)
	var installDir string
	switch {
	case base == "METADATA" && strings.HasSuffix(parent, ".dist-info"),
		base == "PKG-INFO" && strings.HasSuffix(parent, ".egg-info"):
		installDir = path.Dir(dir)
	case base == "PKG-INFO" && parent == "EGG-INFO" && strings.HasSuffix(path.Base(path.Dir(dir)), ".egg"):
		installDir = path.Dir(path.Dir(dir))
	case strings.HasSuffix(base, ".egg-info") && len(base) > len(".egg-info"):
		// Debian and old distutils write the metadata as a file.
		installDir = dir
	default:
		return false
	}
	return underSitePackages(installDir)
}

// underSitePackages reports whether dir is, or lies under, a directory
// named site-packages or dist-packages.
func underSitePackages(dir string) bool {
	for _, elem := range strings.Split(dir, "/") {
		if elem == "site-packages" || elem == "dist-packages" {
			return true
		}
	}
	return false
}

// Parse implements indexer.Cataloger: one distribution, named and
// versioned by its Name and Version headers.
func (Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	name, version, err := ParseMetadata(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: []vuln.Package{{
		Name:    NormalizeName(name),
		Version: version,
		Kind:    vuln.KindPyPI,
	}}}, nil
}

// maxHeaderLine bounds one header line; description bodies, which may be
// long, come after the headers and are never read.
const maxHeaderLine = 1 << 20

// ParseMetadata returns the Name and Version headers of a core metadata
// file (METADATA, PKG-INFO). The headers are RFC 822 style and end at the
// first empty line. It is written here rather than with net/textproto or
// net/mail because those reject whole files over one malformed line, and
// real metadata has them (unindented continuation lines of old
// descriptions); only two headers matter and they come first.
func ParseMetadata(r io.Reader) (name, version string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxHeaderLine)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if first {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			first = false
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a header we do not read
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key := string(bytes.TrimSpace(k))
		val := string(bytes.TrimSpace(v))
		switch {
		case strings.EqualFold(key, "Name") && name == "":
			name = val
		case strings.EqualFold(key, "Version") && version == "":
			version = val
		}
		if name != "" && version != "" {
			break
		}
	}
	if err := sc.Err(); err != nil && !(errors.Is(err, bufio.ErrTooLong) && name != "" && version != "") {
		return "", "", fmt.Errorf("read metadata: %w", err)
	}
	switch {
	case name == "" && version == "":
		return "", "", errors.New("no Name and Version headers")
	case name == "":
		return "", "", errors.New("no Name header")
	case version == "":
		return "", "", errors.New("no Version header")
	}
	return name, version, nil
}

// NormalizeName normalises a distribution name as PEP 503 says: lower
// case, every run of "-", "_" and "." replaced by a single "-". A thin
// wrapper over vuln.PEP503, lapps' one Python name normaliser.
func NormalizeName(name string) string { return vuln.PEP503(name) }
