// Package rpm finds the packages installed by rpm, in any of its three
// database formats: BerkeleyDB (Packages: RHEL/CentOS ≤ 8, Amazon Linux
// 2), NDB (Packages.db: SUSE) and SQLite (rpmdb.sqlite: RHEL 9, Fedora ≥
// 33), under var/lib/rpm/ or usr/lib/sysimage/rpm/.
//
// The package headers are parsed with github.com/knqyf263/go-rpmdb, which
// opens a path and trusts the file: on a damaged BerkeleyDB or NDB
// database its reading goroutine panics (out-of-range slices, which no
// recover in this package can catch), loops forever or allocates what
// the file claims, and it holds every header of a database at once. This
// package therefore walks the database itself, with bounds checks (see
// check.go), refuses a database go-rpmdb could not read safely, and hands
// go-rpmdb only the validated header blobs, a few megabytes at a time, in
// scratch SQLite databases (see ReadFile).
package rpm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver go-rpmdb opens rpmdb.sqlite with

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/license"
	"github.com/lapps/lapps/vuln"
)

// MaxSize is the largest database read. The largest real ones (a full
// Fedora workstation) are a few hundred megabytes.
const MaxSize = 512 << 20

// dirs are the directories holding rpm databases, and names the file
// names of the three formats.
var (
	dirs  = []string{"var/lib/rpm", "usr/lib/sysimage/rpm"}
	names = []string{"Packages", "Packages.db", "rpmdb.sqlite"}
)

// Cataloger reads rpm databases.
type Cataloger struct {
	maxSize int64
}

var _ indexer.Cataloger = Cataloger{}

// New returns the rpm cataloger, reading databases of up to MaxSize bytes.
func New() Cataloger { return Cataloger{maxSize: MaxSize} }

// NewWithMaxSize returns an rpm cataloger reading databases of up to n
// bytes.
func NewWithMaxSize(n int64) Cataloger { return Cataloger{maxSize: n} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "rpm" }

// Wants implements indexer.Cataloger: Packages, Packages.db or
// rpmdb.sqlite in var/lib/rpm or usr/lib/sysimage/rpm.
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	return contains(dirs, dir) && contains(names, base)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Parse implements indexer.Cataloger: it copies the database to a
// temporary file (at most the cataloger's maximum size), reads it with
// ReadFile and removes the copy.
func (c Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	dir, err := os.MkdirTemp("", "lapps-rpmdb-")
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, path.Base(p))
	max := c.maxSize
	if max <= 0 {
		max = MaxSize
	}
	if err := copyLimited(file, r, max); err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	res, err := ReadFile(ctx, file)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	for i := range res.Packages {
		res.Packages[i].DBPath = p
	}
	return res, nil
}

// copyLimited writes r to a new file, refusing more than max bytes.
func copyLimited(file string, r io.Reader, max int64) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy to a temporary file: %w", err)
	}
	if n > max {
		return fmt.Errorf("larger than %d bytes; not read", max)
	}
	return nil
}

// ReadFile reads the rpm database at file, of any of the three formats,
// and returns its packages with Kind set to rpm, in database order, and
// the files each installed as OwnedFiles keyed "rpm NAME". The
// gpg-pubkey pseudo-packages (the imported signing keys) are left out.
// Version is "[epoch:]version-release", with the epoch only when it is
// set and not zero; SourceName and SourceVersion come from the source
// RPM's file name, SourceVersion with the binary's epoch. The files are
// those of the package's file list (BASENAMES, DIRNAMES, DIRINDEXES),
// directories left out, in the indexer's form (see ownedFiles).
//
// go-rpmdb holds every header of a database while it lists them, about
// twice their size in memory. ReadFile therefore never hands it the
// database itself: check walks the database (any format) and hands over
// its validated header blobs, which are written, in database order, into
// small SQLite databases of at most batchBytes of headers each, listed
// with go-rpmdb one after the other. Memory follows the batch, not the
// database; and go-rpmdb's BerkeleyDB and NDB readers, whose goroutines
// no recover reaches, never run. Packages and files are charged to the
// layer's budget (indexer.CountPackage, indexer.CountOwnedFile).
func ReadFile(ctx context.Context, file string) (indexer.Result, error) {
	res := indexer.Result{OwnedFiles: map[string][]string{}}
	dir, err := os.MkdirTemp("", "lapps-rpmdb-batch-")
	if err != nil {
		return indexer.Result{}, err
	}
	defer os.RemoveAll(dir)
	b := &batch{dir: dir}
	defer b.close()
	flush := func() error {
		f, err := b.finish()
		if err != nil || f == "" {
			return err
		}
		defer os.Remove(f)
		infos, err := list(f)
		if err != nil {
			return err
		}
		return convert(ctx, infos, &res)
	}
	err = check(ctx, file, func(blob []byte) error {
		if err := b.add(blob); err != nil {
			return err
		}
		if b.bytes >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return indexer.Result{}, err
	}
	return res, nil
}

// batchBytes is the most header bytes handed to go-rpmdb at once.
const batchBytes = 8 << 20

// batch is a SQLite database being filled with package headers, in the
// schema of rpmdb.sqlite that go-rpmdb reads.
type batch struct {
	dir   string
	n     int // batches made
	db    *sql.DB
	tx    *sql.Tx
	stmt  *sql.Stmt
	file  string
	bytes int
}

func (b *batch) add(blob []byte) error {
	if b.db == nil {
		b.n++
		b.file = filepath.Join(b.dir, fmt.Sprintf("rpmdb-%d.sqlite", b.n))
		db, err := sql.Open("sqlite", b.file)
		if err != nil {
			return err
		}
		b.db = db
		// A scratch database: no journal, no sync.
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF"); err != nil {
			return err
		}
		if _, err := db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
			return err
		}
		if b.tx, err = db.Begin(); err != nil {
			return err
		}
		if b.stmt, err = b.tx.Prepare("INSERT INTO Packages (blob) VALUES (?)"); err != nil {
			return err
		}
		b.bytes = 0
	}
	if _, err := b.stmt.Exec(blob); err != nil {
		return fmt.Errorf("copy a package header: %w", err)
	}
	b.bytes += len(blob)
	return nil
}

// finish closes the batch being filled and returns its file, or "" when
// there is none.
func (b *batch) finish() (string, error) {
	if b.db == nil {
		return "", nil
	}
	err := b.stmt.Close()
	if cerr := b.tx.Commit(); err == nil {
		err = cerr
	}
	if cerr := b.db.Close(); err == nil {
		err = cerr
	}
	b.db, b.tx, b.stmt = nil, nil, nil
	return b.file, err
}

func (b *batch) close() {
	if b.db != nil {
		b.finish()
	}
}

// convert appends the packages and files of infos to res.
func convert(ctx context.Context, infos []*rpmdb.PackageInfo, res *indexer.Result) error {
	for _, pi := range infos {
		if pi.Name == "gpg-pubkey" {
			continue
		}
		if pi.Name == "" || pi.Version == "" {
			return fmt.Errorf("a package without name or version (%q %q)", pi.Name, pi.Version)
		}
		epoch := ""
		if pi.Epoch != nil && *pi.Epoch != 0 {
			epoch = strconv.Itoa(*pi.Epoch) + ":"
		}
		p := vuln.Package{
			Name:    pi.Name,
			Version: epoch + pi.Version,
			Arch:    pi.Arch,
			Kind:    vuln.KindRPM,
			// The License tag: SPDX in recent Fedora and RHEL 10, Fedora's
			// short names ("GPLv2+ and LGPLv2+") before.
			Licenses: license.List(pi.License),
		}
		if pi.Release != "" {
			p.Version += "-" + pi.Release
		}
		if name, version, ok := ParseSourceRPM(pi.SourceRpm); ok {
			p.SourceName, p.SourceVersion = name, epoch+version
		} else {
			p.SourceName, p.SourceVersion = p.Name, p.Version
		}
		if err := indexer.CountPackage(ctx, p); err != nil {
			return err
		}
		files, err := ownedFiles(pi)
		if err != nil {
			return fmt.Errorf("package %s: %w", pi.Name, err)
		}
		for _, f := range files {
			if err := indexer.CountOwnedFile(ctx, f); err != nil {
				return err
			}
		}
		key := vuln.KindRPM + " " + p.Name
		// Multilib packages (glibc.i686 and glibc.x86_64) share the key.
		res.OwnedFiles[key] = append(res.OwnedFiles[key], files...)
		res.Packages = append(res.Packages, p)
	}
	return nil
}

// sIFMT and sIFDIR are the file type bits of rpm's FILEMODES and the
// type of a directory (as in stat(2)).
const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
)

// ownedFiles returns the paths of the files of a package: for each
// BASENAMES entry, the DIRNAMES entry its DIRINDEXES entry points to,
// followed by the base name, as rpm's own rpmfiFN joins them; cleaned and
// without the leading slash, as the indexer's walker sees paths. A file
// under bin, sbin, lib or lib64 is also returned under usr/, right after
// it (see usrMerged); on a system without merged /usr that name matches
// nothing.
// Directories, by FILEMODES, are left out: ownership is about the files
// language packages are read from, and a large database lists tens of
// thousands of directories. go-rpmdb's InstalledFileNames is not used: it
// keeps the directories and allocates twice per path (path.Join). A file
// list whose arrays disagree, which only a damaged header has, is an
// error.
func ownedFiles(pi *rpmdb.PackageInfo) ([]string, error) {
	if len(pi.BaseNames) == 0 || (len(pi.BaseNames) == 1 && pi.BaseNames[0] == "" && len(pi.DirIndexes) == 0) {
		return nil, nil
	}
	if len(pi.DirIndexes) != len(pi.BaseNames) {
		return nil, fmt.Errorf("file list: %d base names but %d directory indexes", len(pi.BaseNames), len(pi.DirIndexes))
	}
	modes := pi.FileModes
	if len(modes) != len(pi.BaseNames) {
		modes = nil // no file types: keep every entry
	}
	files := make([]string, 0, len(pi.BaseNames))
	for i, base := range pi.BaseNames {
		if modes != nil && modes[i]&sIFMT == sIFDIR {
			continue
		}
		d := pi.DirIndexes[i]
		if d < 0 || int(d) >= len(pi.DirNames) {
			return nil, fmt.Errorf("file list: directory index %d of %q out of range (%d directories)", d, base, len(pi.DirNames))
		}
		p := pi.DirNames[d] + base
		if len(p) > 0 && p[0] == '/' {
			p = path.Clean(p) // no allocation when already clean, as rpm writes it
		} else {
			p = path.Clean("/" + p)
		}
		if p = p[1:]; p == "" {
			continue
		}
		files = append(files, p)
		for _, d := range usrMerged {
			if strings.HasPrefix(p, d) {
				files = append(files, "usr/"+p)
				break
			}
		}
	}
	return files, nil
}

// usrMerged are the top-level directories that merged-/usr systems (RHEL
// and Fedora from 17/7 on) make links into /usr. Some packages still
// list files under the old names (glibc's /lib64/libc.so.6), while the
// layer's tar stream holds them under the real ones (usr/lib64/libc.so.6).
var usrMerged = []string{"bin/", "sbin/", "lib/", "lib64/"}

// list opens the database with go-rpmdb and lists its packages. Header
// parsing runs in this goroutine, so a panic in it is recovered into an
// error.
func list(file string) (infos []*rpmdb.PackageInfo, err error) {
	db, err := rpmdb.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open rpm database: %w", err)
	}
	// Close releases the file even when the listing stopped early.
	// go-rpmdb's reading goroutine then stays blocked on its channel
	// (it cannot be told to stop); that is the price of a damaged header
	// that passed the structural checks.
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("read rpm database: damaged package header (%v)", r)
		}
	}()
	infos, err = db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("read rpm database: %w", err)
	}
	return infos, nil
}

// ParseSourceRPM splits the file name of a source RPM,
// "glibc-2.34-83.el9.src.rpm", into the source package's name ("glibc")
// and its version-release ("2.34-83.el9"). It reports false for names
// that do not have that shape, such as "(none)".
func ParseSourceRPM(s string) (name, version string, ok bool) {
	base, found := strings.CutSuffix(s, ".src.rpm")
	if !found {
		if base, found = strings.CutSuffix(s, ".nosrc.rpm"); !found {
			return "", "", false
		}
	}
	r := strings.LastIndexByte(base, '-')
	if r <= 0 {
		return "", "", false
	}
	v := strings.LastIndexByte(base[:r], '-')
	if v <= 0 || v+1 == r || r+1 == len(base) {
		return "", "", false
	}
	return base[:v], base[v+1:], true
}

// errNotRPMDB is returned for files in none of the three formats.
var errNotRPMDB = errors.New("not an rpm database (BerkeleyDB, NDB or SQLite)")
