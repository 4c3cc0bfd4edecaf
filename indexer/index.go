// Package indexer reads an image's layers once each, hands the files that
// interest a cataloger to that cataloger, and folds the resulting layer
// indexes, in order, into the index of the image.
package indexer

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/vuln"
)

// Version is the version of the indexer: the catalogers and the way their
// results are recorded. A layer indexed by another version is indexed
// again, lazily, the next time an image using it is scanned. Bump it
// whenever a cataloger finds more, less or differently. It ends with
// checks.Version (the file checks and the secret scan run in the same
// pass and are stored in the same index), so that a new version of the
// checks re-indexes layers too.
const Version = "5." + checks.Version

// Cataloger finds packages, or the distribution, in the files of a layer.
// A cataloger is stateless: Parse may be called concurrently.
type Cataloger interface {
	// Name identifies the cataloger ("dpkg", "apk", "os-release", …).
	Name() string
	// Wants reports whether the regular file at path (slash separated,
	// without a leading slash, as in the layer's tar stream) is one the
	// cataloger reads.
	Wants(path string) bool
	// Parse reads one wanted file. It returns what it found in that file
	// alone; the indexer records the path and the layer. An error means the
	// file does not parse: the indexer records it as a warning and goes on,
	// except for a *limits.Error (from CountPackages or CountOwnedFiles),
	// which fails the layer. A panic is recovered into a warning.
	//
	// The walker passes an *io.SectionReader, valid until Parse returns:
	// the file is in memory or in a temporary file, so a cataloger that
	// needs random access (an archive, an executable) reads it in place
	// through ReaderAt. A cataloger reads with bounded buffers: files can
	// be as large as Limits.FileBytes.
	Parse(ctx context.Context, path string, r io.Reader) (Result, error)
}

// FileWanter is implemented by catalogers that choose files by more than
// their path: a Go binary can be any executable. When a cataloger
// implements it, the walker calls WantsFile instead of Wants. A cataloger
// that looks at content (an ELF header, say) does so in Parse and returns
// an empty Result for files that turn out not to be its own.
type FileWanter interface {
	WantsFile(path string, mode fs.FileMode, size int64) bool
}

// Result is what a cataloger found in one file.
type Result struct {
	Packages     []vuln.Package
	Distribution *vuln.Distribution
	// OwnedFiles are the files that a package manager's database says its
	// packages installed (dpkg's info/*.list, apk's F:/R: lines, rpm's
	// file lists), keyed by the owning package as "KIND NAME" ("deb
	// python3-requests"). Language packages found in those files, in the
	// same layer, belong to that operating-system package and are matched
	// as it, not a second time. Ownership is worked out during the walk and
	// not stored: a result with nothing but OwnedFiles leaves no entry.
	OwnedFiles map[string][]string
	// Warnings are things a cataloger could not decide about packages it
	// lists all the same (a jar without a group id or a version, a Go main
	// module without a version); the walker records each as
	// "path: cataloger: warning", unless an OS package's file list in the
	// same layer names the file (its packages are matched as that OS
	// package).
	Warnings []string
	// Licenses are licenses that this file states for packages listed in
	// other files, keyed "KIND NAME" like OwnedFiles (Debian's
	// usr/share/doc/PKG/copyright gives "deb PKG"). The fold gives them
	// to the packages of that kind and name, in any layer, that declare
	// none of their own, as long as the file is in the final file system.
	Licenses map[string][]string
}

// Entry is what one cataloger found in one file of a layer.
type Entry struct {
	Path         string             `json:"path"`
	Cataloger    string             `json:"cataloger"`
	Packages     []vuln.Package     `json:"packages,omitempty"`
	Distribution *vuln.Distribution `json:"distribution,omitempty"`
	// OwnedBy names the operating-system package ("deb python3-requests")
	// that installed this file, for files of language packages.
	OwnedBy string `json:"owned_by,omitempty"`
	// Licenses are the file's Result.Licenses.
	Licenses map[string][]string `json:"licenses,omitempty"`
}

// LayerIndex is the index of one layer, stored under the layer's digest.
type LayerIndex struct {
	// Digest is the layer's digest as the manifest names it.
	Digest string `json:"digest"`
	// IndexerVersion is the Version that produced this index.
	IndexerVersion string `json:"indexer_version"`
	// Entries are the files the catalogers parsed, in tar order.
	Entries []Entry `json:"entries,omitempty"`
	// Whiteouts are the paths this layer deletes (".wh." files), and
	// Opaque the directories whose earlier contents it hides
	// (".wh..wh..opq"); both without a leading slash.
	Whiteouts []string `json:"whiteouts,omitempty"`
	Opaque    []string `json:"opaque,omitempty"`
	// Warnings are files that did not parse, as "path: cataloger: error".
	Warnings []string `json:"warnings,omitempty"`
	// OwnedLocks are the lock files (IsLockFile) that the package
	// managers' file lists of this layer name: shipped by an
	// operating-system package, they describe no installed application,
	// whichever layer writes them. A subset of the owned files, so bounded
	// by the same limits.
	OwnedLocks []string `json:"owned_locks,omitempty"`
	// Checks are the file checks' findings and the secrets of the layer
	// (checks/layer); nil when indexed WithoutChecks.
	Checks *checks.LayerResult `json:"checks,omitempty"`
}

// LayerInfo describes one layer of an indexed image.
type LayerInfo struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size"`
}

// ImageIndex is the folded index of an image: what its final file system
// holds.
type ImageIndex struct {
	ManifestDigest string             `json:"manifest_digest"`
	IndexerVersion string             `json:"indexer_version"`
	Distribution   *vuln.Distribution `json:"distribution,omitempty"`
	Layers         []LayerInfo        `json:"layers"`
	Packages       []vuln.Package     `json:"packages"`
	// OSOwned are language packages found in files that an operating-system
	// package installed (Debian's python3-requests, say): they are
	// reported and matched as that package, and listed here with OwnedBy
	// set so that the report can say so.
	OSOwned  []vuln.Package `json:"os_owned,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	// ConfigFindings are the file checks' findings of the layers
	// (FoldChecks) and, once the service adds them, those of the image
	// configuration (checks/config); Secrets the secrets of every layer,
	// deleted later or not.
	ConfigFindings []checks.Finding `json:"config_findings,omitempty"`
	Secrets        []checks.Secret  `json:"secrets,omitempty"`
}

// ReaderAt returns r as an io.ReaderAt with its size: r itself when it is
// one that knows its size (the walker's *io.SectionReader, a
// *bytes.Reader), otherwise its content read into memory, refused beyond
// max bytes.
func ReaderAt(r io.Reader, max int64) (io.ReaderAt, int64, error) {
	if ra, ok := r.(interface {
		io.ReaderAt
		Size() int64
	}); ok {
		return ra, ra.Size(), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(b)) > max {
		return nil, 0, fmt.Errorf("larger than %d bytes", max)
	}
	return byteReaderAt(b), int64(len(b)), nil
}
