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
	"path/filepath"
	"sync/atomic"
	"syscall"
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
// entry. An unchanged tree therefore maps to the same key, and a layer
// already indexed is not read again, without reading file contents.
// Changes between Open and reading the layer are not detected.
func openDir(ctx context.Context, ref string, o *options) (Image, error) {
	abs, err := absPath(prefixDir, ref)
	if err != nil {
		return nil, err
	}
	name := prefixDir + abs
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, statError(name, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalidReference, name)
	}
	h := sha256.New()
	err = walkRootfs(ctx, abs, func(rel string, fi fs.FileInfo, link string) error {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\x00%s\n", rel, uint32(fi.Mode()), fi.Size(), fi.ModTime().UnixNano(), link)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	digest := fmt.Sprintf("sha256:%x", h.Sum(nil))
	img := &openedImage{name: name, manifestDigest: digest, closed: new(atomic.Bool)}
	img.layers = []Layer{&layer{
		digest:    digest,
		diffID:    digest,
		mediaType: "application/vnd.oci.image.layer.v1.tar",
		size:      -1,
		progress:  o.progress,
		closed:    img.closed,
		open: func(ctx context.Context) (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeRootfsTar(ctx, abs, pw)) }()
			return pr, nil
		},
	}}
	return img, nil
}

// walkRootfs calls fn for every entry under root except root itself, in
// lexical order per directory, without following symbolic links and
// without descending into the contents of /proc, /sys and /dev.
func walkRootfs(ctx context.Context, root string, fn func(rel string, fi fs.FileInfo, link string) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrPermission) {
				slog.Warn("rootfs: skipping unreadable entry", "path", p, "err", err)
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil // tar cannot hold sockets
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if err := fn(rel, fi, link); err != nil {
			return err
		}
		if d.IsDir() && skippedRootDirs[rel] {
			return fs.SkipDir
		}
		return nil
	})
}

// writeRootfsTar writes the tree as a tar stream: numeric owners, hard
// links as links, unreadable files skipped with a warning.
func writeRootfsTar(ctx context.Context, root string, w io.Writer) error {
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
		hdr.Format = tar.FormatPAX
		var f *os.File
		if fi.Mode().IsRegular() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev is uint32 on some platforms
				if first, ok := seen[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					seen[key] = rel
				}
			}
			if hdr.Typeflag == tar.TypeReg {
				if f, err = os.Open(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
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
