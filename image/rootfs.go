package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"
)

// skippedRootDirs are top-level directories whose contents are not part
// of an image (pseudo file systems when the root is a live system).
var skippedRootDirs = map[string]bool{"proc": true, "sys": true, "dev": true}

// openDir opens an unpacked root file system as a one-layer image.
//
// The layer is a tar stream generated while walking the directory, never
// written anywhere. Its digest, its diffID and the image's manifest digest
// are one sha256 over the listing of the tree in walk order (lexical per
// directory): path, mode, size, modification time and link target of every
// entry. An unchanged tree therefore maps to the same key without reading
// file contents; it is a claim, not a content address (ContentAddressed is
// false): HashBlob hashes the generated tar stream, which is
// byte-for-byte the same for an unchanged tree.
//
// The tree is opened as an os.Root and walked through it: no symbolic link
// or ".." inside it is followed out of it, symbolic links are recorded as
// links, and only regular files are ever opened (without blocking, checked
// with fstat on the descriptor to be the file the walk listed).
// Changes between Open and reading the layer are not detected.
func openDir(ctx context.Context, ref string, o *options, lfs *localFS) (Image, error) {
	abs, err := absPath(prefixDir, ref)
	if err != nil {
		return nil, err
	}
	name := prefixDir + abs
	root, err := lfs.openDir(abs)
	if err != nil {
		return nil, localError(name, err)
	}
	h := sha256.New()
	err = walkRootfs(ctx, root, func(rel string, fi fs.FileInfo, link string) error {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\x00%s\n", rel, uint32(fi.Mode()), fi.Size(), fi.ModTime().UnixNano(), link)
		return nil
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	digest := fmt.Sprintf("sha256:%x", h.Sum(nil))
	img := newOpenedImage(name, o)
	img.manifestDigest = digest
	img.closer = root
	img.layers = []Layer{&layer{
		digest:    digest,
		diffID:    digest,
		mediaType: "application/vnd.oci.image.layer.v1.tar",
		size:      -1,
		progress:  o.progress,
		closed:    img.closed,
		budget:    img.budget,
		open: func(ctx context.Context) (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeRootfsTar(ctx, root, pw)) }()
			return pr, nil
		},
	}}
	return img, nil
}

// walkRootfs calls fn for every entry under root except root itself, in
// lexical order per directory (a directory's entry before its contents),
// without following symbolic links and without descending into the
// contents of /proc, /sys and /dev. Sockets, which tar cannot hold, are
// left out; unreadable directories are skipped with a warning.
func walkRootfs(ctx context.Context, root *os.Root, fn func(rel string, fi fs.FileInfo, link string) error) error {
	return walkRootfsDir(ctx, root, ".", fn)
}

func walkRootfsDir(ctx context.Context, root *os.Root, dir string, fn func(rel string, fi fs.FileInfo, link string) error) error {
	// O_DIRECTORY: an entry replaced by anything else since it was listed
	// fails instead of being opened (a FIFO would block).
	d, err := root.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if dir != "." && (errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist)) {
			slog.Warn("rootfs: skipping unreadable directory", "path", dir, "err", err)
			return nil
		}
		return rootError(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		if dir != "." && errors.Is(err, fs.ErrPermission) {
			slog.Warn("rootfs: skipping unreadable directory", "path", dir, "err", err)
			return nil
		}
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := n
		if dir != "." {
			rel = dir + "/" + n
		}
		fi, err := root.Lstat(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while walking
			}
			if errors.Is(err, fs.ErrPermission) {
				slog.Warn("rootfs: skipping unreadable entry", "path", rel, "err", err)
				continue
			}
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			continue // tar cannot hold sockets
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = root.Readlink(rel); err != nil {
				return err
			}
		}
		if err := fn(rel, fi, link); err != nil {
			return err
		}
		if fi.IsDir() && !(dir == "." && skippedRootDirs[n]) {
			if err := walkRootfsDir(ctx, root, rel, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeRootfsTar writes the tree as a tar stream that is byte-for-byte the
// same for an unchanged tree: walk order, numeric owners (no user or group
// names), no access or change times, hard links as links to the first
// path seen; unreadable files are skipped with a warning, and a file
// replaced since it was listed is skipped too.
func writeRootfsTar(ctx context.Context, root *os.Root, w io.Writer) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	err := walkRootfs(ctx, root, func(rel string, fi fs.FileInfo, link string) error {
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			slog.Warn("rootfs: skipping entry tar cannot hold", "path", rel, "err", err)
			return nil
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", "" // host names mean nothing for the rootfs
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.PAXRecords = nil
		hdr.Format = tar.FormatPAX
		var f *os.File
		if fi.Mode().IsRegular() {
			st, _ := fi.Sys().(*syscall.Stat_t)
			if st != nil && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev is uint32 on some platforms
				if first, ok := seen[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					seen[key] = rel
				}
			}
			if hdr.Typeflag == tar.TypeReg {
				if f, err = openListed(root, rel, st); err != nil {
					slog.Warn("rootfs: skipping unreadable file", "path", rel, "err", err)
					return nil
				}
				defer f.Close()
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if f != nil {
			n, err := io.CopyN(tw, f, hdr.Size)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if n < hdr.Size {
				return fmt.Errorf("%s shrank while being read (%d of %d bytes)", rel, n, hdr.Size)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// openListed opens the regular file rel of root, and checks that it is
// still the file the walk listed (same device and inode).
func openListed(root *os.Root, rel string, listed *syscall.Stat_t) (*os.File, error) {
	f, err := openRegular(root, rel)
	if err != nil {
		return nil, err
	}
	if listed != nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Dev != listed.Dev || st.Ino != listed.Ino) {
			f.Close()
			return nil, errors.New("replaced while being read")
		}
	}
	return f, nil
}
