package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// localFS opens the files of the local transports. Every file is opened
// with O_NONBLOCK, so that a FIFO does not wait for a writer, and used
// only once fstat on the open descriptor says it is a regular file (no
// window between a check and the open); directories are opened as
// os.Root, so nothing inside them (a symbolic link, "..") leads out.
//
// With local roots (WithLocalRoots), every path is opened through the
// os.Root of the allowed directory that holds it: a symbolic link or ".."
// anywhere in the path that leaves that directory is refused by the
// kernel-side walk of os.Root, when the file is opened, instead of being
// checked beforehand and raced.
type localFS struct {
	// roots are the allowed directories, absolute and clean; nil: any path.
	roots []string
	// opened are the roots opened so far, by directory.
	opened map[string]*os.Root
}

func newLocalFS(roots []string) (*localFS, error) {
	l := &localFS{opened: map[string]*os.Root{}}
	if roots == nil {
		return l, nil
	}
	l.roots = []string{}
	for _, r := range roots {
		if strings.TrimSpace(r) == "" {
			continue
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("local root %s: %w", r, err)
		}
		l.roots = append(l.roots, abs)
	}
	return l, nil
}

// close releases the opened roots (files and roots opened from them stay
// valid).
func (l *localFS) close() {
	for _, r := range l.opened {
		r.Close()
	}
	clear(l.opened)
}

// under returns the os.Root of the allowed directory holding p and p
// relative to it; ok is false when p lies under none. Without roots it
// returns nil, p, true.
func (l *localFS) under(p string) (root *os.Root, rel string, err error) {
	if l.roots == nil {
		return nil, p, nil
	}
	if !filepath.IsAbs(p) {
		return nil, "", fmt.Errorf("%w: %s: local images must be named by an absolute path under server.local_images", ErrForbidden, p)
	}
	clean := filepath.Clean(p)
	for _, r := range l.roots {
		rel, err := filepath.Rel(r, clean)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		root, ok := l.opened[r]
		if !ok {
			if root, err = openRoot(r); err != nil {
				return nil, "", fmt.Errorf("local root %s: %w", r, err)
			}
			l.opened[r] = root
		}
		return root, rel, nil
	}
	return nil, "", fmt.Errorf("%w: %s: local images are only read under server.local_images", ErrForbidden, p)
}

// stat stats p (following symbolic links, within the root when there are
// roots); it is only used to split a transport's path from its suffix.
func (l *localFS) stat(p string) (fs.FileInfo, error) {
	root, rel, err := l.under(p)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return os.Stat(p)
	}
	return root.Stat(rel)
}

// openFile opens the regular file p for reading.
func (l *localFS) openFile(p string) (*os.File, error) {
	root, rel, err := l.under(p)
	if err != nil {
		return nil, err
	}
	return openRegular(root, rel)
}

// openDir opens the directory p as an os.Root.
func (l *localFS) openDir(p string) (*os.Root, error) {
	root, rel, err := l.under(p)
	if err != nil {
		return nil, err
	}
	var r *os.Root
	if root == nil {
		r, err = openRoot(rel)
	} else {
		r, err = root.OpenRoot(rel)
	}
	if err != nil {
		return nil, rootError(err)
	}
	return r, nil
}

// openRoot opens the directory p as an os.Root, following symbolic links
// as a plain open would, without ever blocking: os.OpenRoot opens its
// argument without O_NONBLOCK or O_DIRECTORY, so that a FIFO where a
// directory is expected would block it. The directory is opened here with
// both, and os.OpenRoot then reopens that very descriptor through
// /proc/self/fd. Where /proc is not mounted, p is opened again by name and
// checked to be the same directory (the FIFO race then remains).
func openRoot(p string) (*os.Root, error) {
	d, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var fd uintptr
	sc, err := d.SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := sc.Control(func(f uintptr) { fd = f }); err != nil {
		return nil, err
	}
	if r, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil {
		return r, nil
	}
	r, err := os.OpenRoot(p)
	if err != nil {
		return nil, err
	}
	dfi, err1 := d.Stat()
	rfi, err2 := r.Stat(".")
	if err1 != nil || err2 != nil || !os.SameFile(dfi, rfi) {
		r.Close()
		return nil, fmt.Errorf("%s: changed while being opened", p)
	}
	return r, nil
}

// notRegularError reports a file that is not a regular file where one is
// expected.
type notRegularError struct {
	name string
	mode fs.FileMode
}

func (e *notRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.name, describeMode(e.mode))
}

// describeMode names the type of a file.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// openRegular opens name (relative to root, or a path when root is nil)
// for reading without blocking, checks with fstat on the descriptor that
// it is a regular file, and clears O_NONBLOCK.
func openRegular(root *os.Root, name string) (*os.File, error) {
	const flags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	var (
		f   *os.File
		err error
	)
	if root == nil {
		f, err = os.OpenFile(name, flags, 0)
	} else {
		f, err = root.OpenFile(name, flags, 0)
	}
	if err != nil {
		return nil, rootError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &notRegularError{name: name, mode: fi.Mode()}
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// clearNonblock puts f's descriptor back into blocking mode. For a
// regular file O_NONBLOCK changes nothing on Linux, but the descriptor is
// then what a plain open would have returned. (File.Fd would do it too,
// and also detach the file from the runtime poller.)
func clearNonblock(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// rootError marks an os.Root's refusal of a path that leaves it as
// ErrForbidden. os.Root reports it with an unexported error whose text is
// "path escapes from parent".
func rootError(err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: %w (it leads out of the allowed directory)", ErrForbidden, err)
	}
	return err
}

// localError turns an error opening a local transport's own file or
// directory (named by the user) into the sentinel it stands for.
func localError(name string, err error) error {
	var nr *notRegularError
	switch {
	case errors.Is(err, ErrForbidden):
		return fmt.Errorf("%s: %w", name, err)
	case errors.As(err, &nr):
		return fmt.Errorf("%w: %s is %s, not an image archive", ErrInvalidReference, name, describeMode(nr.mode))
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %s is not a directory", ErrInvalidReference, name)
	}
	return statError(name, err)
}
