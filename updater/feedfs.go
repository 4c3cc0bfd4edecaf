package updater

import (
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// treeFS is the file system of a fetched feed: downloaded files (spooled
// to temporary files) and mounted trees (zip archives, local directories)
// placed at slash-separated names, with the directories in between made
// up. It is written here because no library offers a read-only union of
// os files and other fs.FS values under chosen names; testing/fstest's
// MapFS holds contents in memory, which feeds of a gigabyte cannot.
type treeFS struct{ root *node }

// node is one name in a treeFS: a directory (dir != nil), a mounted tree
// (sub != nil) or a file on disk.
type node struct {
	name    string
	dir     map[string]*node
	sub     fs.FS
	file    string
	size    int64
	modTime time.Time
}

func newTreeFS() *treeFS { return &treeFS{root: &node{name: ".", dir: map[string]*node{}}} }

// add places n at name, making the directories above it. It reports
// false when the name is taken or runs through a file or mount.
func (t *treeFS) add(name string, n *node) bool {
	if name == "." {
		if len(t.root.dir) > 0 || n.sub == nil {
			return false
		}
		n.name = "."
		t.root = n
		return true
	}
	if t.root.dir == nil {
		return false
	}
	elems := strings.Split(name, "/")
	cur := t.root
	for _, e := range elems[:len(elems)-1] {
		c, ok := cur.dir[e]
		if !ok {
			c = &node{name: e, dir: map[string]*node{}}
			cur.dir[e] = c
		}
		if c.dir == nil {
			return false
		}
		cur = c
	}
	last := elems[len(elems)-1]
	if _, ok := cur.dir[last]; ok {
		return false
	}
	n.name = last
	cur.dir[last] = n
	return true
}

// Open implements fs.FS.
func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	n := t.root
	var elems []string
	if name != "." {
		elems = strings.Split(name, "/")
	}
	for i, e := range elems {
		if n.sub != nil {
			return n.sub.Open(strings.Join(elems[i:], "/"))
		}
		c, ok := n.dir[e]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		n = c
	}
	switch {
	case n.sub != nil:
		f, err := n.sub.Open(".")
		if err != nil {
			return nil, err
		}
		return &renamed{File: f, info: n.info()}, nil
	case n.dir != nil:
		return &dirFile{n: n, entries: n.entries()}, nil
	}
	f, _, err := openRegular(n.file)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &renamed{File: f, info: n.info()}, nil
}

// info returns the FileInfo of a node.
func (n *node) info() fs.FileInfo {
	if n.dir != nil || n.sub != nil {
		return fileInfo{name: n.name, mode: fs.ModeDir | 0o555, modTime: n.modTime}
	}
	return fileInfo{name: n.name, size: n.size, mode: 0o444, modTime: n.modTime}
}

func (n *node) entries() []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(n.dir))
	for _, c := range n.dir {
		out = append(out, fs.FileInfoToDirEntry(c.info()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return fi.modTime }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// dirFile is an open made-up directory.
type dirFile struct {
	n       *node
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.n.info(), nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.n.name, Err: fs.ErrInvalid}
}
func (d *dirFile) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if count <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	d.off += count
	return rest[:count], nil
}

// renamed is an open file or mounted root reporting the information it
// has in the tree (as its directory lists it) rather than its name on
// disk (a temporary file's) or in its own tree (".").
type renamed struct {
	fs.File
	info fs.FileInfo
}

// Stat implements fs.File.
func (r *renamed) Stat() (fs.FileInfo, error) { return r.info, nil }

// ReadDir implements fs.ReadDirFile for mounted roots.
func (r *renamed) ReadDir(n int) ([]fs.DirEntry, error) {
	d, ok := r.File.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: r.info.Name(), Err: fs.ErrInvalid}
	}
	return d.ReadDir(n)
}

// ReadAt and Seek pass through for files that have them, so that a feed
// file can be opened as a zip archive by a parser.
func (r *renamed) ReadAt(p []byte, off int64) (int, error) {
	ra, ok := r.File.(io.ReaderAt)
	if !ok {
		return 0, &fs.PathError{Op: "readat", Path: r.info.Name(), Err: fs.ErrInvalid}
	}
	return ra.ReadAt(p, off)
}

// Seek implements io.Seeker where the underlying file does.
func (r *renamed) Seek(off int64, whence int) (int64, error) {
	s, ok := r.File.(io.Seeker)
	if !ok {
		return 0, &fs.PathError{Op: "seek", Path: r.info.Name(), Err: fs.ErrInvalid}
	}
	return s.Seek(off, whence)
}

// feedNames derives the names under which the files of several URLs
// appear in one feed: the shortest common number of trailing URL path
// elements that makes every name unique ("v3.19/main.json" and
// "v3.19/community.json" for Alpine's secdb; "DSA/list" and "DLA/list" for
// Debian's lists; just "all.zip" for a single OSV export). When even the
// whole paths collide (the same path on two hosts), the host is put first;
// as a last resort the URL's position is ("0/all.zip", "1/all.zip").
func feedNames(paths [][]string, hosts []string) []string {
	maxLen := 0
	for _, p := range paths {
		maxLen = max(maxLen, len(p))
	}
	try := func(f func(i int) string) []string {
		names := make([]string, len(paths))
		for i := range paths {
			names[i] = f(i)
		}
		if namesValid(names) {
			return names
		}
		return nil
	}
	for k := 1; k <= maxLen; k++ {
		if names := try(func(i int) string {
			p := paths[i]
			return path.Join(p[max(0, len(p)-k):]...)
		}); names != nil {
			return names
		}
	}
	if names := try(func(i int) string { return path.Join(append([]string{hosts[i]}, paths[i]...)...) }); names != nil {
		return names
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		base := "feed"
		if len(p) > 0 {
			base = p[len(p)-1]
		}
		names[i] = path.Join(strconv.Itoa(i), base)
	}
	return names
}

// namesValid reports whether names are valid, unique, and none is a
// directory of another.
func namesValid(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || n == "." || !fs.ValidPath(n) || seen[n] {
			return false
		}
		seen[n] = true
	}
	for _, n := range names {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if seen[d] {
				return false
			}
		}
	}
	return true
}
