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
	"github.com/lapps/lapps/indexer/license"
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
	m, err := ReadMetadata(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: []vuln.Package{{
		Name:     NormalizeName(m.Name),
		Version:  m.Version,
		Kind:     vuln.KindPyPI,
		Licenses: m.Licenses,
	}}}, nil
}

// maxHeaderLine bounds one header line; description bodies, which may be
// long, come after the headers and are never read.
const maxHeaderLine = 1 << 20

// ParseMetadata returns the Name and Version headers of a core metadata
// file (METADATA, PKG-INFO): ReadMetadata without the licenses.
func ParseMetadata(r io.Reader) (name, version string, err error) {
	m, err := ReadMetadata(r)
	return m.Name, m.Version, err
}

// Metadata is what lapps reads of a core metadata file.
type Metadata struct {
	Name, Version string
	// Licenses are the SPDX expressions (license.Normalize) of
	// License-Expression (metadata 2.4); without it, of License when it
	// is a short one-line name, not a license's text; without either, of
	// the "License ::" classifiers.
	Licenses []string
}

// maxLicenseHeader is the longest License header taken as a license's
// name; longer ones, and ones with continuation lines, hold its text.
const maxLicenseHeader = 100

// ReadMetadata reads the headers of a core metadata file (METADATA,
// PKG-INFO). The headers are RFC 822 style and end at the first empty
// line. It is written here rather than with net/textproto or net/mail
// because those reject whole files over one malformed line, and real
// metadata has them (unindented continuation lines of old descriptions).
// Only the headers are read, line by line, each at most 1 MiB; the
// description body after them never is.
func ReadMetadata(r io.Reader) (Metadata, error) {
	var (
		m                  Metadata
		expr, lic          string
		licLong, inLicense bool
		classifiers        []string
	)
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
			if inLicense && len(bytes.TrimSpace(line)) > 0 {
				licLong = true // a License header with a text under it
			}
			continue // continuation of a header
		}
		inLicense = false
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key := string(bytes.TrimSpace(k))
		val := string(bytes.TrimSpace(v))
		switch {
		case strings.EqualFold(key, "Name") && m.Name == "":
			m.Name = val
		case strings.EqualFold(key, "Version") && m.Version == "":
			m.Version = val
		case strings.EqualFold(key, "License-Expression") && expr == "":
			expr = val
		case strings.EqualFold(key, "License") && lic == "":
			lic, inLicense = val, true
			licLong = len(val) > maxLicenseHeader
		case strings.EqualFold(key, "Classifier") && strings.HasPrefix(val, "License ::"):
			if e, ok := license.Classifier(val); ok && len(classifiers) < license.MaxPerPackage {
				classifiers = append(classifiers, e)
			}
		}
	}
	if err := sc.Err(); err != nil && !(errors.Is(err, bufio.ErrTooLong) && m.Name != "" && m.Version != "") {
		return Metadata{}, fmt.Errorf("read metadata: %w", err)
	}
	switch {
	case m.Name == "" && m.Version == "":
		return Metadata{}, errors.New("no Name and Version headers")
	case m.Name == "":
		return Metadata{}, errors.New("no Name header")
	case m.Version == "":
		return Metadata{}, errors.New("no Version header")
	}
	switch {
	case expr != "":
		m.Licenses = license.List(expr)
	case lic != "" && !licLong && !strings.EqualFold(lic, "UNKNOWN"):
		m.Licenses = license.List(lic)
	}
	if len(m.Licenses) == 0 {
		m.Licenses = license.List(classifiers...)
	}
	return m, nil
}

// NormalizeName normalises a distribution name as PEP 503 says: lower
// case, every run of "-", "_" and "." replaced by a single "-". A thin
// wrapper over vuln.PEP503, lapps' one Python name normaliser.
func NormalizeName(name string) string { return vuln.PEP503(name) }
