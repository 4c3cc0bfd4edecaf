// Package java finds Maven artifacts in Java archives (.jar, .war, .ear
// and the other zip-based Java formats), including the archives nested
// inside them (WEB-INF/lib/*.jar of a war, BOOT-INF/lib/*.jar of a Spring
// Boot jar, lib/*.jar of an ear), within size, depth and directory
// limits: in place when stored, decompressed into memory (small ones) or
// a temporary file otherwise.
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
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "java"

// Limits of the reading of one top-level archive: the size of a nested
// archive, the bytes decompressed in total for one top-level archive (a
// zip bomb of nested archives stops there), and the nesting depth.
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
// whose nested archives exceed the total size limit, or whose central
// directories exceed maxEntries or maxDirectoryBytes, is an error; a
// damaged nested archive is skipped (and logged, once per top-level
// archive) so that the rest of its parent is still reported.
//
// The archive is read in place (the walker's reader is an io.ReaderAt).
// A nested archive stored without compression (Spring Boot's
// BOOT-INF/lib) is read in place too; a compressed one is decompressed
// into memory up to indexer.MemoryThreshold bytes, into a temporary file
// beyond, removed once read. The bytes decompressed are charged to the
// layer's expansion budget (indexer.CountExpanded) and every package to
// its package budget.
func (c *Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	ra, size, err := indexer.ReaderAt(r, c.maxNested)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	w := &walk{c: c, ctx: ctx}
	err = w.archive(p, path.Base(p), ra, size, 0)
	if w.skipped > 0 {
		slog.Warn("java: nested archives skipped", "path", p, "count", w.skipped, "first", w.firstSkip)
	}
	if err != nil {
		return indexer.Result{}, err
	}
	if w.moreWarnings > 0 {
		w.warnings = append(w.warnings, fmt.Sprintf("%d more warnings not kept", w.moreWarnings))
	}
	return indexer.Result{Packages: w.pkgs, Warnings: w.warnings}, nil
}

// walk is the state of the reading of one top-level archive.
type walk struct {
	c     *Cataloger
	ctx   context.Context
	total int64 // bytes decompressed
	pkgs  []vuln.Package
	// entries and dirBytes are those of the central directories of the
	// archives open (the one being read and its parents).
	entries, dirBytes int64
	skipped           int
	firstSkip         string

	warnings     []string // what could not be determined, up to maxWarnings
	moreWarnings int
}

// add records a package, charging it to the layer's budget.
func (w *walk) add(p vuln.Package) error {
	if err := indexer.CountPackage(w.ctx, p); err != nil {
		return err
	}
	w.pkgs = append(w.pkgs, p)
	return nil
}

// archive reads one archive: dbPath is what its packages are recorded
// under, name its file name (for the file-name fallback).
func (w *walk) archive(dbPath, name string, ra io.ReaderAt, size int64, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	n, b, err := checkDirectory(ra, size, maxEntries-w.entries, maxDirectoryBytes-w.dirBytes)
	if err != nil {
		return fmt.Errorf("open java archive %s: %w", dbPath, err)
	}
	w.entries += n
	w.dirBytes += b
	defer func() { w.entries -= n; w.dirBytes -= b }()
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return fmt.Errorf("open java archive %s: %w", dbPath, err)
	}
	before := len(w.pkgs) // packages found before this archive's nested ones
	var (
		poms     []vuln.Package
		pomDirs  []string // the directory of each pom.properties
		manifest map[string]string
		seen     = map[string]bool{}
		// pomLicenses are the licenses of the pom.xml files, by their
		// directory META-INF/maven/GROUP/ARTIFACT.
		pomLicenses = map[string][]string{}
	)
	for _, f := range zr.File {
		entry := f.Name
		base := path.Base(entry)
		switch {
		case base == "pom.properties" && strings.HasPrefix(entry, "META-INF/maven/"):
			b, err := w.readMeta(f)
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
			pomDirs = append(pomDirs, path.Dir(entry))
		case base == "pom.xml" && strings.HasPrefix(entry, "META-INF/maven/") && len(pomLicenses) < maxPoms:
			// A pom.xml that does not read (larger than 1 MiB, damaged)
			// costs its licenses only; the layer's budget still binds.
			b, err := w.readMeta(f)
			if errors.Is(err, indexer.ErrExpanded) {
				return fmt.Errorf("%s: %s: %w", dbPath, entry, err)
			}
			if err != nil {
				continue
			}
			if ls := PomLicenses(b); len(ls) > 0 {
				pomLicenses[path.Dir(entry)] = ls
			}
		case strings.EqualFold(entry, "META-INF/MANIFEST.MF"):
			b, err := w.readMeta(f)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", dbPath, entry, err)
			}
			manifest = parseManifest(b)
		case IsArchive(entry) && !f.FileInfo().IsDir():
			if depth+1 > w.c.maxDepth {
				slog.Debug("java: nested archive too deep, not read", "path", dbPath, "entry", entry)
				continue
			}
			if err := w.nested(dbPath, ra, size, f, depth+1); err != nil {
				if errors.Is(err, ErrTooLarge) || errors.Is(err, limits.ErrExceeded) || errors.Is(err, indexer.ErrExpanded) || w.ctx.Err() != nil {
					return err
				}
				if w.skipped++; w.skipped == 1 {
					w.firstSkip = err.Error()
				}
			}
		}
	}
	for i := range poms {
		poms[i].Licenses = pomLicenses[pomDirs[i]]
	}
	pkg, warnings := manifestPackage(manifest, name)
	if g, a, v, ok := RepositoryCoordinates(dbPath); ok {
		// A file in a Maven repository's layout is named by its
		// coordinates: they are not a guess.
		pkg.Name, warnings = g+":"+a, nil
		if v != "" {
			pkg.Version = v
		} else if pkg.Version == "" {
			warnings = []string{"no version in pom.properties, the manifest or the file name: listed unversioned, not matched"}
		}
	}
	pkg.DBPath = dbPath
	if len(poms) > 0 {
		for _, p := range poms {
			if err := w.add(p); err != nil {
				return err
			}
		}
		// A shaded jar can carry only the pom.properties of what it
		// bundles (Debian's guice.jar holds cglib's): when none of them
		// is the archive's own (by file name or manifest version), the
		// manifest names the archive itself.
		if len(manifest) > 0 && pkg.Version != "" && !ownPom(poms, name, pkg.Version) {
			w.warn(dbPath, warnings)
			return w.add(pkg)
		}
		return nil
	}
	// Without pom.properties the archive is listed whatever its manifest
	// and name give, with a warning for what they do not; except an
	// envelope without a version of its own (an EAR, a WAR, a fat jar)
	// whose nested archives gave packages.
	if pkg.Version == "" && len(w.pkgs) > before {
		return nil
	}
	w.warn(dbPath, warnings)
	return w.add(pkg)
}

// maxWarnings bounds the warnings one file gives; the rest are counted.
const maxWarnings = 50

// warn records what could not be determined about an archive, naming a
// nested one by its path inside the file.
func (w *walk) warn(dbPath string, warnings []string) {
	for _, s := range warnings {
		if len(w.warnings) >= maxWarnings {
			w.moreWarnings++
			continue
		}
		if _, inner, nested := strings.Cut(dbPath, "!"); nested {
			s = inner + ": " + s
		}
		w.warnings = append(w.warnings, s)
	}
}

// readMeta reads a pom.properties or a manifest, charging what it
// decompresses.
func (w *walk) readMeta(f *zip.File) ([]byte, error) {
	b, err := readEntry(f, maxMetaSize)
	if cerr := w.expand(int64(len(b))); cerr != nil {
		return nil, cerr
	}
	return b, err
}

// expand charges n decompressed bytes to the archive's total and to the
// layer's expansion budget.
func (w *walk) expand(n int64) error {
	w.total += n
	return indexer.CountExpanded(w.ctx, n)
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

// nested reads an archive stored inside another, within the limits, and
// walks it: in place when it is stored uncompressed, from memory or a
// temporary file when it must be decompressed.
func (w *walk) nested(parent string, parentRA io.ReaderAt, parentSize int64, f *zip.File, depth int) error {
	dbPath := parent + "!" + f.Name
	if f.UncompressedSize64 > uint64(w.c.maxNested) {
		return fmt.Errorf("%s: %d bytes, larger than the %d byte limit for a nested archive", dbPath, f.UncompressedSize64, w.c.maxNested)
	}
	// The header's size can lie: the limit is enforced on what is read.
	limit := min(w.c.maxNested, w.c.maxTotal-w.total)
	if f.Method == zip.Store && f.CompressedSize64 == f.UncompressedSize64 {
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("%s: %w", dbPath, err)
		}
		n := int64(f.UncompressedSize64)
		if off < 0 || off > parentSize || n > parentSize-off {
			return fmt.Errorf("%s: stored beyond the end of its archive", dbPath)
		}
		if n > limit {
			return fmt.Errorf("%s: %w (%d bytes)", dbPath, ErrTooLarge, w.c.maxTotal)
		}
		w.total += n
		return w.archive(dbPath, path.Base(f.Name), io.NewSectionReader(parentRA, off, n), n, depth)
	}
	var (
		ra  io.ReaderAt
		n   int64
		err error
	)
	if f.UncompressedSize64 <= indexer.MemoryThreshold {
		var b []byte
		b, err = readEntry(f, min(limit, indexer.MemoryThreshold))
		ra, n = bytes.NewReader(b), int64(len(b))
	} else {
		var file *os.File
		file, n, err = spoolEntry(f, limit)
		if file != nil {
			defer func() {
				file.Close()
				os.Remove(file.Name())
			}()
			ra = file
		}
	}
	if cerr := w.expand(n); cerr != nil {
		return cerr
	}
	if errors.Is(err, errEntryTooLarge) {
		if limit < w.c.maxNested {
			return fmt.Errorf("%s: %w (%d bytes)", dbPath, ErrTooLarge, w.c.maxTotal)
		}
		return fmt.Errorf("%s: larger than the %d byte limit for a nested archive", dbPath, w.c.maxNested)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dbPath, err)
	}
	return w.archive(dbPath, path.Base(f.Name), ra, n, depth)
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

// spoolEntry decompresses a zip entry of at most limit bytes into a
// temporary file, unlinked at once where the system allows it (the
// caller closes and removes it), and returns it with the bytes written.
func spoolEntry(f *zip.File, limit int64) (*os.File, int64, error) {
	if limit < 0 {
		limit = 0
	}
	rc, err := f.Open()
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	file, err := os.CreateTemp("", "lapps-jar-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(file.Name()) // unlinked at once where the system allows it
	n, err := io.Copy(file, io.LimitReader(rc, limit+1))
	switch {
	case err != nil:
	case n > limit:
		n, err = limit, errEntryTooLarge
	}
	if err != nil {
		file.Close()
		os.Remove(file.Name())
		return nil, n, err
	}
	return file, n, nil
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
// section, with the file name as a guide, and says what it could not
// determine:
//
//   - artifactId: the file name's ("commons-logging-1.2.jar" →
//     commons-logging) when it has a version; else Implementation-Title,
//     Bundle-Name or Specification-Title, the first that is a single word
//     ("jackson-databind", not "Commons Logging"); else the last element
//     of Bundle-SymbolicName; else the file name;
//   - groupId: Implementation-Vendor-Id; else what Bundle-SymbolicName
//     gives by the maven-bundle-plugin's convention read backwards: "G.A" for artifact A ("org.mongodb.bson" →
//     org.mongodb), or "G.S" where A is G's last element, "-" and S
//     ("org.mongodb.driver-async" for mongodb-driver-async →
//     org.mongodb). Nothing else: a group is never guessed
//     ("com.google.inject" does not make guice's group com.google).
//     Automatic-Module-Name gives none: it names a module after its root
//     Java package, not its group (guice's is com.google.guice, its
//     group com.google.inject).
//     Without a group the package is named by its artifactId alone, with
//     a warning; Maven advisories name groupId:artifactId, so such a
//     package matches none.
//   - version: Implementation-Version, else Bundle-Version, else
//     Specification-Version, else the file name's version. Without one
//     the package is listed unversioned, with a warning.
//
// Coordinates derived this way are not always the real ones: a symbolic
// name "G.A" is also what the convention gives for group "G.A" and
// artifact A (com.google.guava:guava), and commons-logging's
// Implementation-Vendor-Id is org.apache, not its group.
func manifestPackage(m map[string]string, fileName string) (vuln.Package, []string) {
	fileArtifact, fileVersion, fileOK := splitFileName(fileName)
	version := firstNonEmpty(m["Implementation-Version"], m["Bundle-Version"], m["Specification-Version"], fileVersion)
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
	group := strings.TrimSpace(m["Implementation-Vendor-Id"])
	if !groupLike(group) {
		group = ""
	}
	if group == "" {
		group = groupOf(symbolic, artifact)
	}
	var warnings []string
	name := artifact
	if group != "" {
		name = group + ":" + artifact
	} else {
		warnings = append(warnings, fmt.Sprintf("no Maven group id in pom.properties or the manifest: listed as %q, which Maven advisories (groupId:artifactId) do not name", artifact))
	}
	if version == "" {
		warnings = append(warnings, "no version in pom.properties, the manifest or the file name: listed unversioned, not matched")
	}
	return vuln.Package{Name: name, Version: version, Kind: vuln.KindMaven}, warnings
}

// RepositoryCoordinates returns the coordinates that the path of an
// archive in a Maven repository's layout gives
// (…/.m2/repository/G1/G2/A/V/A-V[-classifier].jar, Debian's
// /usr/share/maven-repo/…): groupId G1.G2, artifactId A, version V. It
// needs the repository's directory in the path and a file name that
// starts with "A-V"; an archive nested in another is never in a
// repository. Debian's placeholder version directory "debian" gives an
// empty version.
func RepositoryCoordinates(p string) (group, artifact, version string, ok bool) {
	if strings.Contains(p, "!") {
		return "", "", "", false
	}
	parts := strings.Split(p, "/")
	start := -1
	for i, e := range parts {
		if e == "maven-repo" || (e == "repository" && i > 0 && parts[i-1] == ".m2") {
			start = i + 1
		}
	}
	// At least one group element, the artifact, the version, the file.
	if start < 0 || len(parts)-start < 4 {
		return "", "", "", false
	}
	n := len(parts)
	file, version, artifact := parts[n-1], parts[n-2], parts[n-3]
	if !strings.HasPrefix(file, artifact+"-"+version) || version == "" || artifact == "" {
		return "", "", "", false
	}
	group = strings.Join(parts[start:n-3], ".")
	if !groupLike(group) {
		return "", "", "", false
	}
	if version == "debian" {
		version = ""
	}
	return group, artifact, version, true
}

// groupOf returns the groupId that an OSGi symbolic name or a module
// name id gives for artifact by the maven-bundle-plugin's convention,
// or "": id is "G.A", or "G.S" where artifact is "L-S" or "LS" for G's
// last element L.
func groupOf(id, artifact string) string {
	if id == "" || artifact == "" {
		return ""
	}
	if g, ok := strings.CutSuffix(id, "."+artifact); ok && groupLike(g) {
		return g
	}
	for i := strings.LastIndex(id, "."); i > 0; i = strings.LastIndex(id[:i], ".") {
		g, rest := id[:i], id[i+1:]
		last := g[strings.LastIndex(g, ".")+1:]
		if (artifact == last+"-"+rest || artifact == last+rest) && groupLike(g) {
			return g
		}
	}
	return ""
}

// groupLike reports whether g can be a Maven groupId: letters, digits,
// "-", "_" and ".", not starting or ending with ".".
func groupLike(g string) bool {
	if g == "" || g[0] == '.' || g[len(g)-1] == '.' {
		return false
	}
	for _, c := range g {
		if !(c == '.' || c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
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
