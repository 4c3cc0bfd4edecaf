package indexer

import (
	"context"
	"errors"
	"fmt"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
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
	// SecretFileBytes is the largest file whose content the file checks
	// and the secret scan read (text files only: a file with a NUL byte
	// in its first 8000 bytes is not scanned for secrets). Larger files
	// are checked by path and mode only. Configuration key:
	// limits.secret_file_bytes.
	SecretFileBytes int64
}

// DefaultLimits are the limits of an Indexer made without WithLimits:
// far above what real images hold (the largest Debian images list a few
// thousand packages and a few hundred thousand files per layer), far
// below what would exhaust a server.
var DefaultLimits = Limits{
	Entries:   1_000_000,
	FileBytes: 256 << 20,
	Packages:  100_000,
	// 1 MiB: configuration files, scripts and sources; beyond, data.
	SecretFileBytes: 1 << 20,
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
	if l.SecretFileBytes <= 0 {
		l.SecretFileBytes = DefaultLimits.SecretFileBytes
	}
	return l
}

// Bytes a layer's budget allows per package record and per owned file,
// on average: the strings a cataloger keeps are bounded with the counts,
// so that memory follows the limits whatever the length of a hostile
// name. Real records are a fraction of this (a Debian package's name,
// version, architecture and source are about 60 bytes; a path about 60).
const (
	bytesPerPackage = 256
	bytesPerOwned   = 32
)

// budget is what the files of one layer may still add: package records
// and owned files, in number and in bytes. The walker makes one per layer;
// each Parse sees it, through its context, as a parseBudget that also
// counts what that one file charged.
type budget struct {
	expanded, maxExpanded  int64
	packages, packageBytes int64
	owned, ownedBytes      int64
	maxPackages, maxOwned  int64
	digest                 string
}

type parseBudget struct {
	layer                  *budget
	packages, packageBytes int64
	owned, ownedBytes      int64
}

type budgetKey struct{}

func (b *budget) chargePackages(n, size int64) error {
	b.packages += n
	b.packageBytes += size
	switch {
	case b.packages > b.maxPackages:
		return limits.New(fmt.Sprintf("package records of layer %s", b.digest), b.maxPackages, "packages", keyPackages)
	case b.packageBytes > b.maxPackages*bytesPerPackage:
		return limits.New(fmt.Sprintf("bytes of the package records of layer %s", b.digest), b.maxPackages*bytesPerPackage, "bytes", keyPackages)
	}
	return nil
}

func (b *budget) chargeOwned(n, size int64) error {
	b.owned += n
	b.ownedBytes += size
	switch {
	case b.owned > b.maxOwned:
		return limits.New(fmt.Sprintf("files named by the package file lists of layer %s", b.digest), b.maxOwned, "files", keyEntries)
	case b.ownedBytes > b.maxOwned*bytesPerOwned:
		return limits.New(fmt.Sprintf("bytes of the files named by the package file lists of layer %s", b.digest), b.maxOwned*bytesPerOwned, "bytes", keyEntries)
	}
	return nil
}

// packageSize is what a package record costs the budget: the bytes of
// the strings a cataloger sets.
func packageSize(p *vuln.Package) int64 {
	n := len(p.Name) + len(p.Version) + len(p.Arch) + len(p.SourceName) + len(p.SourceVersion)
	for _, l := range p.Licenses {
		n += len(l)
	}
	return int64(n)
}

// CountPackage charges one package record, decoded from the file being
// parsed, to the budget of the layer being indexed, and returns a
// *limits.Error once the layer holds more than Limits.Packages records,
// or more than 256 bytes of names and versions per record on average. A
// cataloger calls it as it decodes (each entry of a lock file, each
// paragraph of a status file, before deduplication), so that a file of
// millions of entries is refused before it is held in memory; the error
// is to be returned from Parse (wrapped or not), and fails the layer. A
// cataloger that does not call it is charged, after Parse, for the
// packages of its Result. Outside a layer walk (a context without a
// budget) CountPackage does nothing.
func CountPackage(ctx context.Context, p vuln.Package) error {
	pb, _ := ctx.Value(budgetKey{}).(*parseBudget)
	if pb == nil {
		return nil
	}
	size := packageSize(&p)
	pb.packages++
	pb.packageBytes += size
	return pb.layer.chargePackages(1, size)
}

// CountOwnedFile is CountPackage for one path a cataloger returns in
// Result.OwnedFiles: a layer's file lists may name at most
// Limits.Entries files, of 32 bytes each on average.
func CountOwnedFile(ctx context.Context, path string) error {
	pb, _ := ctx.Value(budgetKey{}).(*parseBudget)
	if pb == nil {
		return nil
	}
	pb.owned++
	pb.ownedBytes += int64(len(path))
	return pb.layer.chargeOwned(1, int64(len(path)))
}

// ErrExpanded is wrapped by the error CountExpanded returns once a
// layer's expansion budget is spent.
var ErrExpanded = errors.New("the layer's budget of decompressed bytes is spent")

// expansionFactor sets a layer's expansion budget: the bytes catalogers
// may decompress from the files of one layer, in units of
// Limits.FileBytes.
const expansionFactor = 16

// CountExpanded charges n bytes that a cataloger decompresses from the
// file being parsed (the nested archives of a Java archive) to the
// layer's expansion budget, 16 × Limits.FileBytes (4 GiB by default),
// which bounds the time a layer of compressed archives can cost. Once it
// is spent it returns an error wrapping ErrExpanded: the cataloger stops
// and returns it, and the walker records a warning for the file (not a
// failure: the budget is one of work, and what it leaves unread is
// named). Outside a layer walk it does nothing.
func CountExpanded(ctx context.Context, n int64) error {
	pb, _ := ctx.Value(budgetKey{}).(*parseBudget)
	if pb == nil || n <= 0 {
		return nil
	}
	pb.layer.expanded += n
	if pb.layer.expanded > pb.layer.maxExpanded {
		return fmt.Errorf("%w: more than %d bytes decompressed from the files of layer %s (16 × limits.file_bytes)", ErrExpanded, pb.layer.maxExpanded, pb.layer.digest)
	}
	return nil
}

// settle charges the layer for what a Result holds beyond what its
// cataloger counted while parsing.
func (pb *parseBudget) settle(res *Result) error {
	var size int64
	for i := range res.Packages {
		size += packageSize(&res.Packages[i])
	}
	if n := int64(len(res.Packages)) - pb.packages; n > 0 || size > pb.packageBytes {
		if err := pb.layer.chargePackages(max(n, 0), max(size-pb.packageBytes, 0)); err != nil {
			return err
		}
	}
	if len(res.Licenses) > 0 {
		// Licenses stated for packages of other files cost a package
		// record each, and their bytes.
		var n, size int64
		for k, ls := range res.Licenses {
			n++
			size += int64(len(k))
			for _, l := range ls {
				size += int64(len(l))
			}
		}
		if err := pb.layer.chargePackages(n, size); err != nil {
			return err
		}
	}
	var owned, ownedSize int64
	for _, files := range res.OwnedFiles {
		owned += int64(len(files))
		for _, f := range files {
			ownedSize += int64(len(f))
		}
	}
	if n := owned - pb.owned; n > 0 || ownedSize > pb.ownedBytes {
		if err := pb.layer.chargeOwned(max(n, 0), max(ownedSize-pb.ownedBytes, 0)); err != nil {
			return err
		}
	}
	return nil
}
