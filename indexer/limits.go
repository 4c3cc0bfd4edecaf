package indexer

import (
	"context"
	"fmt"

	"github.com/lapps/lapps/limits"
)

// Limits bounds what indexing one layer, and folding one image, may cost.
// Every layer is untrusted input: without these bounds a few megabytes of
// compressed tar make the walker hold gigabytes.
//
// Which bounds fail and which warn: a bound whose crossing would leave the
// index silently incomplete fails the layer (IndexLayer returns a
// *limits.Error and the scan records nothing): entries of a layer, package
// records of a layer, packages of an image. A security team must not get a
// report that looks complete for an image that was only partly read. A
// file larger than FileBytes is one file among many: it is not read, and
// the layer's index carries a warning naming it, which the report shows
// (a package database skipped this way is visible, never silent), while
// the rest of the image is indexed.
type Limits struct {
	// Entries is the most tar entries of one layer (headers of every
	// type, whiteouts and opaque markers included), and the most files
	// the package managers' file lists of one layer may name. More fails
	// the layer. Configuration key: limits.layer_entries.
	Entries int64
	// FileBytes is the largest file handed to the catalogers. A wanted
	// file larger than this is not read; the layer's index carries a
	// warning instead. Configuration key: limits.file_bytes.
	FileBytes int64
	// Packages is the most package records of one layer (packages as the
	// catalogers decode them, and files recorded without any), and the
	// most packages of one folded image. More fails the layer, or the
	// fold. Configuration key: limits.packages.
	Packages int64
}

// DefaultLimits are the limits of an Indexer made without WithLimits:
// far above what real images hold (the largest Debian images list a few
// thousand packages and a few hundred thousand files per layer), far
// below what would exhaust a server.
var DefaultLimits = Limits{
	Entries:   1_000_000,
	FileBytes: 256 << 20,
	Packages:  100_000,
}

// Configuration keys of the limits, as limits.Error names them.
const (
	keyEntries   = "limits.layer_entries"
	keyFileBytes = "limits.file_bytes"
	keyPackages  = "limits.packages"
)

// WithLimits sets the limits. A zero or negative field keeps its default.
func WithLimits(l Limits) Option {
	return func(ix *Indexer) { ix.limits = l.withDefaults() }
}

func (l Limits) withDefaults() Limits {
	if l.Entries <= 0 {
		l.Entries = DefaultLimits.Entries
	}
	if l.FileBytes <= 0 {
		l.FileBytes = DefaultLimits.FileBytes
	}
	if l.Packages <= 0 {
		l.Packages = DefaultLimits.Packages
	}
	return l
}

// budget is what the files of one layer may still add: package records
// and owned files. The walker makes one per layer; each Parse sees it,
// through its context, as a parseBudget that also counts what that one
// file charged.
type budget struct {
	packages, owned       int64
	maxPackages, maxOwned int64
	digest                string
}

type parseBudget struct {
	layer           *budget
	packages, owned int64
}

type budgetKey struct{}

func (b *budget) packagesErr() error {
	return limits.New(fmt.Sprintf("package records of layer %s", b.digest), b.maxPackages, "packages", keyPackages)
}

func (b *budget) ownedErr() error {
	return limits.New(fmt.Sprintf("files named by the package file lists of layer %s", b.digest), b.maxOwned, "files", keyEntries)
}

// CountPackages charges n package records, decoded from the file being
// parsed, to the budget of the layer being indexed, and returns a
// *limits.Error once the layer holds more than Limits.Packages. A
// cataloger calls it as it decodes (each entry of a lock file, each
// paragraph of a status file, before deduplication) so that a file of
// millions of entries is refused before it is held in memory; the error
// is to be returned from Parse as it is (wrapped is fine), and fails the
// layer. A cataloger that does not call it is charged, after Parse, for
// the packages of its Result. Outside a layer walk (a context without a
// budget) CountPackages does nothing.
func CountPackages(ctx context.Context, n int) error {
	pb, _ := ctx.Value(budgetKey{}).(*parseBudget)
	if pb == nil || n <= 0 {
		return nil
	}
	pb.packages += int64(n)
	pb.layer.packages += int64(n)
	if pb.layer.packages > pb.layer.maxPackages {
		return pb.layer.packagesErr()
	}
	return nil
}

// CountOwnedFiles is CountPackages for the paths a cataloger returns in
// Result.OwnedFiles: a layer's file lists may name at most
// Limits.Entries files.
func CountOwnedFiles(ctx context.Context, n int) error {
	pb, _ := ctx.Value(budgetKey{}).(*parseBudget)
	if pb == nil || n <= 0 {
		return nil
	}
	pb.owned += int64(n)
	pb.layer.owned += int64(n)
	if pb.layer.owned > pb.layer.maxOwned {
		return pb.layer.ownedErr()
	}
	return nil
}

// settle charges the layer for what a Result holds beyond what its
// cataloger counted while parsing.
func (pb *parseBudget) settle(packages, owned int) error {
	if d := int64(packages) - pb.packages; d > 0 {
		pb.packages += d
		pb.layer.packages += d
		if pb.layer.packages > pb.layer.maxPackages {
			return pb.layer.packagesErr()
		}
	}
	if d := int64(owned) - pb.owned; d > 0 {
		pb.owned += d
		pb.layer.owned += d
		if pb.layer.owned > pb.layer.maxOwned {
			return pb.layer.ownedErr()
		}
	}
	return nil
}
