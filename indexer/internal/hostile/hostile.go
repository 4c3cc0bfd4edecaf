// Package hostile generates the hostile layers the indexer's tests and
// measurements use: tar streams written as they are read, so that a
// layer of gigabytes costs the test no memory and the repository no
// file. It is for tests only.
package hostile

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// File is one entry of a generated layer: a regular file whose Body
// writes exactly Size bytes, or, when Type is set, an entry of that type
// without content.
type File struct {
	Name string
	Size int64
	Body func(w io.Writer) error
	Type byte
	Mode int64
}

// Layer returns a tar stream of the entries that next yields, one after
// the other, until it returns false. The stream is produced as it is
// read (in a goroutine writing to a pipe).
func Layer(next func() (File, bool)) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for {
			f, ok := next()
			if !ok {
				break
			}
			typ := f.Type
			if typ == 0 {
				typ = tar.TypeReg
			}
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
			}
			h := &tar.Header{Name: f.Name, Mode: mode, Typeflag: typ, Format: tar.FormatPAX}
			if typ == tar.TypeReg {
				h.Size = f.Size
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if typ == tar.TypeReg && f.Body != nil {
				if err := f.Body(tw); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

// Files returns a layer of the given files.
func Files(files ...File) io.Reader {
	i := 0
	return Layer(func() (File, bool) {
		if i == len(files) {
			return File{}, false
		}
		i++
		return files[i-1], true
	})
}

// Bytes is a File holding b.
func Bytes(name string, b []byte) File {
	return File{Name: name, Size: int64(len(b)), Body: func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}}
}

// Repeat is a File of about size bytes: head, then fill repeated as
// many whole times as fit, then tail.
func Repeat(name string, size int64, head, fill, tail string) File {
	n := (size - int64(len(head)) - int64(len(tail))) / int64(len(fill))
	return File{Name: name, Size: int64(len(head)) + n*int64(len(fill)) + int64(len(tail)), Body: func(w io.Writer) error {
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		k := max(1, (64<<10)/len(fill))
		chunk := bytes.Repeat([]byte(fill), k)
		for left := n; left > 0; {
			m := min(left, int64(k))
			if _, err := w.Write(chunk[:m*int64(len(fill))]); err != nil {
				return err
			}
			left -= m
		}
		_, err := io.WriteString(w, tail)
		return err
	}}
}

// Records is a File made of head, n records, record(i) each, and tail.
// Every record must have the length of record(0): the size is known
// before the content is written.
func Records(name string, head string, n int, record func(i int) string, tail string) File {
	size := int64(len(head)) + int64(n)*int64(len(record(0))) + int64(len(tail))
	return File{Name: name, Size: size, Body: func(w io.Writer) error {
		var buf bytes.Buffer
		buf.WriteString(head)
		for i := 0; i < n; i++ {
			r := record(i)
			if len(r) != len(record(0)) {
				return fmt.Errorf("record %d: %d bytes, want %d", i, len(r), len(record(0)))
			}
			buf.WriteString(r)
			if buf.Len() >= 64<<10 {
				if _, err := w.Write(buf.Bytes()); err != nil {
					return err
				}
				buf.Reset()
			}
		}
		buf.WriteString(tail)
		_, err := w.Write(buf.Bytes())
		return err
	}}
}

// DpkgStatus is a var/lib/dpkg/status of n installed packages.
func DpkgStatus(n int) File {
	return Records("var/lib/dpkg/status", "", n, func(i int) string {
		return fmt.Sprintf("Package: p%08d\nStatus: install ok installed\nVersion: 1.0-%08d\nArchitecture: amd64\n\n", i, i)
	}, "")
}

// Many is a layer of n entries made by entry(i).
func Many(n int, entry func(i int) File) io.Reader {
	i := 0
	return Layer(func() (File, bool) {
		if i == n {
			return File{}, false
		}
		i++
		return entry(i - 1), true
	})
}

// GNUSparse returns a tar stream of n old-GNU-format sparse files (type
// 'S') named name(i), each claiming realSize bytes of which only the
// last data bytes are stored: a reader that expands the holes reads
// realSize bytes per entry.
func GNUSparse(n int, name func(i int) string, realSize int64, data []byte) io.Reader {
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		var blk [512]byte
		copy(blk[0:100], name(i))
		octal(blk[100:108], 0o644)
		octal(blk[108:116], 0)
		octal(blk[116:124], 0)
		octal(blk[124:136], int64(len(data)))
		octal(blk[136:148], 0)
		blk[156] = 'S'
		copy(blk[257:265], "ustar  \x00")
		// One sparse entry: the data at the end of the file.
		octal(blk[386:398], realSize-int64(len(data)))
		octal(blk[398:410], int64(len(data)))
		octal(blk[483:495], realSize)
		checksum(&blk)
		buf.Write(blk[:])
		buf.Write(data)
		if pad := len(data) % 512; pad != 0 {
			buf.Write(make([]byte, 512-pad))
		}
	}
	buf.Write(make([]byte, 1024))
	return &buf
}

// PAXSparse returns a tar stream of n GNU sparse 1.0 files in the PAX
// format, named name(i), each claiming realSize bytes of which only data
// is stored.
func PAXSparse(n int, name func(i int) string, realSize int64, data []byte) io.Reader {
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		recs := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
			record("GNU.sparse.name", name(i)) + record("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
		writeRaw(&buf, "PaxHeaders/x", 'x', []byte(recs))
		spmap := fmt.Sprintf("1\n%d\n%d\n", realSize-int64(len(data)), len(data))
		body := make([]byte, 512)
		copy(body, spmap)
		body = append(body, data...)
		writeRaw(&buf, "GNUSparseFile.0/x", '0', body)
	}
	buf.Write(make([]byte, 1024))
	return &buf
}

func record(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s)
	for {
		t := strconv.Itoa(n) + s
		if len(t) == n {
			return t
		}
		n = len(t)
	}
}

func writeRaw(buf *bytes.Buffer, name string, typ byte, body []byte) {
	var blk [512]byte
	copy(blk[0:100], name)
	octal(blk[100:108], 0o644)
	octal(blk[108:116], 0)
	octal(blk[116:124], 0)
	octal(blk[124:136], int64(len(body)))
	octal(blk[136:148], 0)
	blk[156] = typ
	copy(blk[257:265], "ustar\x0000")
	checksum(&blk)
	buf.Write(blk[:])
	buf.Write(body)
	if pad := len(body) % 512; pad != 0 {
		buf.Write(make([]byte, 512-pad))
	}
}

func octal(b []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	for len(s) < len(b)-1 {
		s = "0" + s
	}
	copy(b, s)
	b[len(b)-1] = 0
}

func checksum(blk *[512]byte) {
	for i := 148; i < 156; i++ {
		blk[i] = ' '
	}
	var sum int64
	for _, c := range blk {
		sum += int64(c)
	}
	s := strconv.FormatInt(sum, 8)
	for len(s) < 6 {
		s = "0" + s
	}
	copy(blk[148:], s)
	blk[154] = 0
	blk[155] = ' '
}
