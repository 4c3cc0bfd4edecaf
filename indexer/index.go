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
