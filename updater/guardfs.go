package updater

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/lapps/lapps/limits"
)

// guardFS is the file system a parser is given: every file read through it
// counts against the bounds of its source (Limits.FileBytes per file,
// Limits.FeedBytes for the whole feed), whatever the file claims to hold.
// A zip entry's header can claim any size: ReadFile never allocates by a
// claimed size (fs.ReadFile would, and a claim of 2^45 bytes makes it
// panic or run out of memory), and Read stops at the bound with a
// *limits.Error. Files expose only Read, Stat, Close and ReadDir: a
// parser cannot seek past the bounds.
type guardFS struct {
	fsys fs.FS
	lim  Limits
	read *atomic.Int64 // decompressed bytes read from the feed so far
}

func newGuardFS(fsys fs.FS, lim Limits) *guardFS {
	return &guardFS{fsys: fsys, lim: lim, read: new(atomic.Int64)}
}

// Limits returns the bounds of the feed (see LimitsOf).
func (g *guardFS) Limits() Limits { return g.lim }

// Open implements fs.FS.
func (g *guardFS) Open(name string) (fs.File, error) {
	f, err := g.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return &guardFile{f: f, g: g, name: name}, nil
}

// readHintCap caps how much of a file's claimed size ReadFile allocates at
// once: enough for every real record file in one allocation, too little
// for a false claim to matter.
const readHintCap = 1 << 20

// ReadFile implements fs.ReadFileFS, so that fs.ReadFile reads through the
// bounds instead of allocating what the file's Stat claims.
func (g *guardFS) ReadFile(name string) ([]byte, error) {
	f, err := g.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hint := int64(0)
	if fi, err := f.Stat(); err == nil {
		hint = min(max(fi.Size(), 0), readHintCap)
	}
	return readAll(f, hint)
}

// readAll is io.ReadAll starting from a buffer of hint bytes.
func readAll(r io.Reader, hint int64) ([]byte, error) {
	b := make([]byte, 0, hint+512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// guardFile is an open file of a guardFS.
type guardFile struct {
	f    fs.File
	g    *guardFS
	name string
	n    int64 // bytes read from this file
}

func (f *guardFile) Stat() (fs.FileInfo, error) { return f.f.Stat() }
func (f *guardFile) Close() error               { return f.f.Close() }

// ReadDir implements fs.ReadDirFile for directories.
func (f *guardFile) ReadDir(n int) ([]fs.DirEntry, error) {
	d, ok := f.f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: fs.ErrInvalid}
	}
	return d.ReadDir(n)
}

// Read implements fs.File within the file's and the feed's bounds.
func (f *guardFile) Read(p []byte) (int, error) {
	lim := f.g.lim
	left := min(lim.FileBytes-f.n, lim.FeedBytes-f.g.read.Load())
	if left <= 0 {
		// Only an error if there is more to read.
		var one [1]byte
		n, err := f.f.Read(one[:])
		if n == 0 {
			return 0, err
		}
		if f.n >= lim.FileBytes {
			return 0, limits.New("decompressed bytes of feed file "+f.name, lim.FileBytes, "bytes", KeyMaxFileBytes)
		}
		return 0, limits.New("decompressed bytes of the feed", lim.FeedBytes, "bytes", KeyMaxFeedBytes)
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := f.f.Read(p)
	f.n += int64(n)
	f.g.read.Add(int64(n))
	return n, err
}

// openRegular opens a local file for reading without blocking on it and
// refuses anything but a regular file or a directory: a FIFO, a device or
// a socket given as a feed (or swapped in after a check) would block the
// run or never end. O_NONBLOCK makes open return at once on a FIFO
// without a writer; the check is fstat on the descriptor, so that the
// file checked is the file read.
func openRegular(p string) (*os.File, fs.FileInfo, error) {
	fh, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		fh.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: p, Err: errNotRegular}
	}
	return fh, fi, nil
}

// errNotRegular is the error of a feed file that is neither a regular file
// nor a directory.
var errNotRegular = errors.New("not a regular file or directory (FIFOs, devices and sockets are refused)")

// localDirFS is os.DirFS opening through openRegular.
type localDirFS string

// Open implements fs.FS.
func (d localDirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	fh, _, err := openRegular(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: pe.Err}
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return fh, nil
}
