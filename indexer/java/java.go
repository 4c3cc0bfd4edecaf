// Package java finds Maven artifacts in Java archives (.jar, .war, .ear
// and the other zip-based Java formats), including the archives nested
// inside them (WEB-INF/lib/*.jar of a war, BOOT-INF/lib/*.jar of a Spring
// Boot jar, lib/*.jar of an ear). Nested archives are read in memory,
// within size and depth limits, never written to disk.
//
// An archive's identity is taken, in order of preference, from:
//
//  1. every META-INF/maven/GROUP/ARTIFACT/pom.properties it holds (a fat or
//     shaded jar holds several, one per bundled artifact); when none of
//     them is the archive's own (neither its file name's artifactId nor
//     its manifest's version), the manifest's package is added;
//  2. otherwise META-INF/MANIFEST.MF (see manifestPackage);
//  3. otherwise the file name (artifactId-version.jar), without a group.
//
// Packages are named "groupId:artifactId" (only "artifactId" when no group
// is known, which the matcher cannot match but an SBOM still shows). A
// package from a nested archive has the DBPath
// "outer.war!WEB-INF/lib/inner.jar" (deeper levels chain further "!"
// elements); packages of the archive itself have its own path.
package java

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "java"

// Limits of the reading of one top-level archive. Nested archives are held
// in memory while they are read, so their sizes are bounded: per nested
// archive, in total for one top-level archive (a zip bomb of nested
// archives stops there), and in nesting depth.
const (
	// DefaultMaxNestedSize is the largest nested archive read.
	DefaultMaxNestedSize = 256 << 20
	// DefaultMaxTotal is the most uncompressed bytes of nested archives
	// read for one top-level archive.
	DefaultMaxTotal = 1 << 30
	// DefaultMaxDepth is how deep archives nest: 1 reads the archives
	// inside the top-level one but not those inside them.
	DefaultMaxDepth = 4
	// maxMetaSize bounds a pom.properties or MANIFEST.MF read.
	maxMetaSize = 1 << 20
)

// ErrTooLarge is returned (wrapped) when an archive's nested archives
// exceed the total size limit: a zip bomb, or an archive too large to
// inspect.
var ErrTooLarge = errors.New("nested archives exceed the size limit")

// archiveExts are the zip-based Java archive formats read: jar, web
// (war), enterprise (ear), Jenkins plugin (jpi, hpi), JBoss (sar) and
// Hibernate/JBoss persistence (par) archives.
var archiveExts = map[string]bool{
	".jar": true, ".war": true, ".ear": true, ".jpi": true, ".hpi": true, ".sar": true, ".par": true,
}

// Cataloger reads Java archives.
type Cataloger struct {
	maxNested, maxTotal int64
	maxDepth            int
}

var _ indexer.Cataloger = (*Cataloger)(nil)

// New returns a Java archive cataloger with the default limits.
func New() *Cataloger {
	return &Cataloger{maxNested: DefaultMaxNestedSize, maxTotal: DefaultMaxTotal, maxDepth: DefaultMaxDepth}
}

// NewWithLimits returns a Java archive cataloger with the given limits on
// the size of one nested archive, the total size of the nested archives
// of one top-level archive, and the nesting depth.
func NewWithLimits(maxNested, maxTotal int64, maxDepth int) *Cataloger {
	return &Cataloger{maxNested: maxNested, maxTotal: maxTotal, maxDepth: maxDepth}
}

// Name implements indexer.Cataloger.
func (*Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger: files named like a Java archive.
func (*Cataloger) Wants(p string) bool { return IsArchive(p) }

// IsArchive reports whether a file name has the extension of a zip-based
// Java archive.
func IsArchive(name string) bool {
	return archiveExts[strings.ToLower(path.Ext(name))]
}

// Parse implements indexer.Cataloger. A file that is not a zip archive,
// or whose nested archives exceed the total size limit, is an error; a
// damaged nested archive is skipped (and logged) so that the rest of its
// parent is still reported.
func (c *Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	ra, size, err := readerAt(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	w := &walk{c: c, ctx: ctx}
	if err := w.archive(p, path.Base(p), ra, size, 0); err != nil {
		return indexer.Result{}, err
	}
	return indexer.Result{Packages: w.pkgs}, nil
}

// readerAt returns r as an io.ReaderAt with its size, reading it into
// memory only when it is not one already.
func readerAt(r io.Reader) (io.ReaderAt, int64, error) {
	if br, ok := r.(*bytes.Reader); ok {
		return br, br.Size(), nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// walk is the state of the reading of one top-level archive.
type walk struct {
	c     *Cataloger
	ctx   context.Context
	total int64
	pkgs  []vuln.Package
}

// archive reads one archive: dbPath is what its packages are recorded
// under, name its file name (for the file-name fallback).
func (w *walk) archive(dbPath, name string, ra io.ReaderAt, size int64, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return fmt.Errorf("open java archive %s: %w", dbPath, err)
	}
	var (
		poms     []vuln.Package
		manifest map[string]string
		seen     = map[string]bool{}
	)
	for _, f := range zr.File {
		entry := f.Name
		base := path.Base(entry)
		switch {
		case base == "pom.properties" && strings.HasPrefix(entry, "META-INF/maven/"):
			b, err := readEntry(f, maxMetaSize)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", dbPath, entry, err)
			}
			pkg, ok := pomPackage(entry, b)
			if !ok || seen[pkg.Name+"@"+pkg.Version] {
				continue
			}
			seen[pkg.Name+"@"+pkg.Version] = true
			pkg.DBPath = dbPath
			poms = append(poms, pkg)
		case strings.EqualFold(entry, "META-INF/MANIFEST.MF"):
			b, err := readEntry(f, maxMetaSize)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", dbPath, entry, err)
			}
			manifest = parseManifest(b)
		case IsArchive(entry) && !f.FileInfo().IsDir():
			if depth+1 > w.c.maxDepth {
				slog.Debug("java: nested archive too deep, not read", "path", dbPath, "entry", entry)
				continue
			}
			if err := w.nested(dbPath, f, depth+1); err != nil {
				if errors.Is(err, ErrTooLarge) || w.ctx.Err() != nil {
					return err
				}
				slog.Warn("java: nested archive skipped", "path", dbPath, "entry", entry, "err", err)
			}
		}
	}
	if len(poms) > 0 {
		w.pkgs = append(w.pkgs, poms...)
		// A shaded jar can carry only the pom.properties of what it
		// bundles (Debian's guice.jar holds cglib's): when none of them
		// is the archive's own (by file name or manifest version), the
		// manifest names the archive itself.
		if pkg, ok := manifestPackage(manifest, name); ok && !ownPom(poms, name, pkg.Version) {
			pkg.DBPath = dbPath
			w.pkgs = append(w.pkgs, pkg)
		}
		return nil
	}
	if pkg, ok := manifestPackage(manifest, name); ok {
		pkg.DBPath = dbPath
		w.pkgs = append(w.pkgs, pkg)
		return nil
	}
	if a, v, ok := splitFileName(name); ok {
		w.pkgs = append(w.pkgs, vuln.Package{Name: a, Version: v, Kind: vuln.KindMaven, DBPath: dbPath})
	}
	return nil
}

// ownPom reports whether one of an archive's pom.properties describes
// the archive itself: its artifactId and the file name's are one a
// prefix of the other once "_" and "." are read as "-"
// (error_prone_annotations for error-prone-annotations.jar,
// plexus-utils for plexus-utils2.jar), or its version is the manifest's
// (1.3 and 1.3.0 being the same).
func ownPom(poms []vuln.Package, fileName, manifestVersion string) bool {
	artifact, _, ok := splitFileName(fileName)
	if !ok {
		artifact = strings.TrimSuffix(fileName, path.Ext(fileName))
	}
	norm := strings.NewReplacer("_", "-", ".", "-")
	f := strings.ToLower(norm.Replace(artifact))
	for _, p := range poms {
		_, a, _ := strings.Cut(p.Name, ":")
		a = strings.ToLower(norm.Replace(a))
		if strings.HasPrefix(a, f) || strings.HasPrefix(f, a) || trimZeros(p.Version) == trimZeros(manifestVersion) {
			return true
		}
	}
	return false
}

// trimZeros drops trailing ".0" elements: 1.3.0 → 1.3.
func trimZeros(v string) string {
	for strings.HasSuffix(v, ".0") {
		v = strings.TrimSuffix(v, ".0")
	}
	return v
}

// nested reads an archive stored inside another into memory, within the
// limits, and walks it.
func (w *walk) nested(parent string, f *zip.File, depth int) error {
	dbPath := parent + "!" + f.Name
	if f.UncompressedSize64 > uint64(w.c.maxNested) {
		return fmt.Errorf("%s: %d bytes, larger than the %d byte limit for a nested archive", dbPath, f.UncompressedSize64, w.c.maxNested)
	}
	// The header's size can lie: the limit is enforced on what is read.
	limit := min(w.c.maxNested, w.c.maxTotal-w.total)
	b, err := readEntry(f, limit)
	w.total += int64(len(b))
	if errors.Is(err, errEntryTooLarge) {
		if limit < w.c.maxNested {
			return fmt.Errorf("%s: %w (%d bytes)", dbPath, ErrTooLarge, w.c.maxTotal)
		}
		return fmt.Errorf("%s: larger than the %d byte limit for a nested archive", dbPath, w.c.maxNested)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dbPath, err)
	}
	return w.archive(dbPath, path.Base(f.Name), bytes.NewReader(b), int64(len(b)), depth)
}

var errEntryTooLarge = errors.New("entry too large")

// readEntry reads a zip entry of at most limit bytes.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], errEntryTooLarge
	}
	return b, nil
}

// pomPackage reads a pom.properties file (Java properties: groupId,
// artifactId, version). Missing group or artifact ids are taken from the
// entry's directory (META-INF/maven/GROUP/ARTIFACT/); a file without a
// version, or with an unresolved property ("${project.version}"), gives
// nothing.
func pomPackage(entry string, b []byte) (vuln.Package, bool) {
	props := parseProperties(b)
	g, a, v := props["groupId"], props["artifactId"], props["version"]
	if parts := strings.Split(entry, "/"); len(parts) == 5 {
		if g == "" {
			g = parts[2]
		}
		if a == "" {
			a = parts[3]
		}
	}
	if g == "" || a == "" || v == "" || strings.Contains(g+a+v, "${") {
		return vuln.Package{}, false
	}
	return vuln.Package{Name: g + ":" + a, Version: v, Kind: vuln.KindMaven}, true
}

// parseProperties parses the subset of the Java properties format that
// Maven writes: "key=value" or "key: value" lines, "#" and "!" comments.
// Line continuations are honoured; escapes other than "\:" and "\=" are
// not decoded (they do not occur in coordinates).
func parseProperties(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxMetaSize+1)
	var cont string
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if cont != "" {
			line = cont + line
			cont = ""
		}
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		k := strings.TrimSpace(line[:i])
		v := strings.TrimSpace(line[i+1:])
		v = strings.NewReplacer(`\:`, ":", `\=`, "=").Replace(v)
		if _, dup := out[k]; !dup {
			out[k] = v
		}
	}
	return out
}

// parseManifest returns the main section of a MANIFEST.MF: "Name: value"
// headers, continuation lines starting with a space, ending at the first
// empty line.
func parseManifest(b []byte) map[string]string {
	out := map[string]string{}
	var last string
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			if len(out) > 0 {
				break
			}
			continue
		}
		if line[0] == ' ' {
			if last != "" {
				out[last] += line[1:]
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			last = ""
			continue
		}
		last = strings.TrimSpace(k)
		if _, dup := out[last]; dup {
			last = ""
			continue
		}
		out[last] = strings.TrimSpace(v)
	}
	return out
}

// manifestPackage derives Maven coordinates from a manifest's main
// section, as Trivy and Syft do, with the file name as a guide:
//
//   - artifactId: the file name's ("commons-logging-1.2.jar" →
//     commons-logging) when it has a version; else Implementation-Title,
//     Bundle-Name or Specification-Title, the first that is a single word
//     ("jackson-databind", not "Commons Logging"); else the last element
//     of Bundle-SymbolicName; else the file name;
//   - groupId: Implementation-Vendor-Id; else Bundle-SymbolicName
//     without its artifact part ("com.fasterxml.jackson.core.jackson-databind"
//     → com.fasterxml.jackson.core) or its last element;
//   - version: Implementation-Version, else Bundle-Version, else
//     Specification-Version, else the file name's version.
//
// A manifest without a version (and a file name without one) gives
// nothing. Coordinates guessed this way are not always the real ones
// (commons-logging's manifest gives org.apache, not commons-logging):
// without a Maven index to check against, a guess is all a manifest
// offers.
func manifestPackage(m map[string]string, fileName string) (vuln.Package, bool) {
	fileArtifact, fileVersion, fileOK := splitFileName(fileName)
	version := firstNonEmpty(m["Implementation-Version"], m["Bundle-Version"], m["Specification-Version"], fileVersion)
	if version == "" || len(m) == 0 {
		return vuln.Package{}, false
	}
	symbolic, _, _ := strings.Cut(m["Bundle-SymbolicName"], ";") // "org.foo.bar;singleton:=true"
	symbolic = strings.TrimSpace(symbolic)
	artifact := ""
	if fileOK {
		artifact = fileArtifact
	}
	for _, t := range []string{m["Implementation-Title"], m["Bundle-Name"], m["Specification-Title"]} {
		if artifact == "" && t != "" && !strings.ContainsAny(t, " \t:") {
			artifact = t
		}
	}
	if artifact == "" && symbolic != "" {
		artifact = symbolic[strings.LastIndex(symbolic, ".")+1:]
	}
	if artifact == "" {
		artifact = strings.TrimSuffix(fileName, path.Ext(fileName))
	}
	group := m["Implementation-Vendor-Id"]
	if group == "" && symbolic != "" {
		switch {
		case strings.HasSuffix(symbolic, "."+artifact):
			group = strings.TrimSuffix(symbolic, "."+artifact)
		case strings.Contains(symbolic, "."):
			group = symbolic[:strings.LastIndex(symbolic, ".")]
		}
	}
	name := artifact
	if group != "" && !strings.ContainsAny(group, " \t:") {
		name = group + ":" + artifact
	}
	return vuln.Package{Name: name, Version: version, Kind: vuln.KindMaven}, true
}

// fileNameRE splits "artifactId-version.ext": the version starts at the
// first "-" followed by a digit.
var fileNameRE = regexp.MustCompile(`^(.+?)-(\d[^/]*)$`)

// splitFileName returns the artifactId and version a Maven-style file name
// carries ("log4j-core-2.19.0.jar" → log4j-core, 2.19.0;
// "guava-31.1-jre.jar" → guava, 31.1-jre).
func splitFileName(name string) (artifact, version string, ok bool) {
	base := strings.TrimSuffix(name, path.Ext(name))
	m := fileNameRE.FindStringSubmatch(base)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
