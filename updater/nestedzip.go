package updater

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// OpenNestedZip opens a zip archive that is itself a file of a feed
// (CVEProject publishes its cvelistV5 baseline as a zip holding cves.zip)
// as a file system, within the feed's bounds: the archive is copied to a
// temporary file in dir ("": os.TempDir) through feed, so its bytes count
// against Limits.FileBytes and Limits.FeedBytes; its central directory is
// bounded as Fetch bounds a downloaded archive (Limits.Files); and every
// read of its entries counts against the same bounds, and the same feed
// total, as the feed's own files. The caller calls closeFn, which removes
// the temporary file.
func OpenNestedZip(feed fs.FS, name, dir string) (_ fs.FS, _ func() error, err error) {
	lim := LimitsOf(feed)
	src, err := feed.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, "lapps-nested-*.zip")
	if err != nil {
		return nil, nil, fmt.Errorf("spool %s: %w", name, err)
	}
	closeFn := func() error {
		cerr := tmp.Close()
		if rerr := os.Remove(tmp.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return rerr
		}
		if errors.Is(cerr, os.ErrClosed) {
			return nil
		}
		return cerr
	}
	defer func() {
		if err != nil {
			_ = closeFn()
		}
	}()
	size, err := io.Copy(tmp, src)
	if err != nil {
		return nil, nil, fmt.Errorf("spool %s: %w", name, err)
	}
	if err := checkZipDirectory(tmp, size, name, lim); err != nil {
		return nil, nil, err
	}
	zr, err := zip.NewReader(tmp, size)
	if err != nil {
		return nil, nil, fmt.Errorf("open zip archive %s: %w", name, err)
	}
	if g, ok := feed.(*guardFS); ok {
		return &guardFS{fsys: zr, lim: g.lim, read: g.read}, closeFn, nil
	}
	return newGuardFS(zr, lim), closeFn, nil
}
