package java

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// archive/zip's NewReader trusts an archive's central directory: it
// preallocates as many entries as a zip64 end record claims (up to a
// thirtieth of the file's size) and then reads every directory header it
// finds, each with a name, an extra field and a comment of up to 64 KiB.
// A hostile jar of a few hundred megabytes would make it hold gigabytes.
// checkDirectory finds the directory as NewReader does (the end record in
// the last 64 KiB, the zip64 locator before it, the base offset of a
// self-extracting archive) and counts its headers before NewReader runs.
// It is written here because archive/zip exposes none of this.

// Bounds of the directories read for one top-level archive, nested
// archives included (those open at the same time).
const (
	// maxEntries is the most entries of the archives being read. Real
	// jars hold up to some tens of thousands.
	maxEntries = 100_000
	// maxDirectoryBytes is the most bytes of their central directories.
	maxDirectoryBytes = 16 << 20
)

// errDirectory is returned when an archive's directory claims more than
// the bounds.
var errDirectory = errors.New("zip central directory beyond the bounds")

const (
	dirHeaderLen   = 46
	dirEndLen      = 22
	dir64LocLen    = 20
	dir64EndLen    = 56
	dirHeaderSig   = 0x02014b50
	dir64LocSig    = 0x07064b50
	dir64EndSig    = 0x06064b50
	maxUint64Int64 = 1<<63 - 1
)

// checkDirectory returns the number of central directory headers of the
// zip archive ra of the given size, and their bytes, as NewReader would
// read them, or errDirectory when they (or what the end record claims)
// exceed what remains of entries and bytes. An archive NewReader would
// refuse gives an error or zeros.
func checkDirectory(ra io.ReaderAt, size int64, entries, bytes int64) (int64, int64, error) {
	records, starts, err := directoryStart(ra, size)
	if err != nil {
		return 0, 0, err
	}
	if records > uint64(entries) {
		return 0, 0, fmt.Errorf("%w: the end record claims %d entries", errDirectory, records)
	}
	var maxN, maxB int64
	for _, start := range starts {
		n, b, err := countHeaders(ra, start, size, entries, bytes)
		if err != nil {
			return 0, 0, err
		}
		maxN, maxB = max(maxN, n), max(maxB, b)
	}
	return maxN, maxB, nil
}

// countHeaders counts the directory headers from start on, as NewReader
// reads them: until a header does not start with the signature, or the
// file ends.
func countHeaders(ra io.ReaderAt, start, size, entries, bytes int64) (n, b int64, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(ra, start, size-start), 64<<10)
	var hdr [dirHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return n, b, nil
		}
		if binary.LittleEndian.Uint32(hdr[:]) != dirHeaderSig {
			return n, b, nil
		}
		l := int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) + int64(binary.LittleEndian.Uint16(hdr[32:]))
		n++
		b += dirHeaderLen + l
		if n > entries || b > bytes {
			return 0, 0, fmt.Errorf("%w: more than %d entries or %d bytes", errDirectory, entries, bytes)
		}
		if _, err := br.Discard(int(l)); err != nil {
			return n, b, nil
		}
	}
}

// directoryStart returns the number of entries the end record claims
// and the offsets where NewReader may start reading directory headers:
// with the base offset the end record implies, and without it (NewReader
// drops it when a valid header is found there, which only a full parse of
// that header tells; both are counted).
func directoryStart(ra io.ReaderAt, size int64) (records uint64, starts []int64, err error) {
	var buf []byte
	var endOffset int64
	found := false
	for i, l := range []int64{1024, 65 * 1024} {
		l = min(l, size)
		buf = make([]byte, l)
		if _, err := ra.ReadAt(buf, size-l); err != nil && err != io.EOF {
			return 0, nil, err
		}
		if p := findEnd(buf); p >= 0 {
			buf, endOffset, found = buf[p:], size-l+int64(p), true
			break
		}
		if i == 1 || l == size {
			break
		}
	}
	if !found {
		return 0, nil, errors.New("zip: not a valid zip file")
	}
	le := binary.LittleEndian
	records = uint64(le.Uint16(buf[10:]))
	dirSize := uint64(le.Uint32(buf[12:]))
	dirOffset := uint64(le.Uint32(buf[16:]))
	if records == 0xffff || dirSize == 0xffff || dirOffset == 0xffffffff {
		if loc := endOffset - dir64LocLen; loc >= 0 {
			var l [dir64LocLen]byte
			if _, err := ra.ReadAt(l[:], loc); err != nil {
				return 0, nil, err
			}
			if le.Uint32(l[:]) == dir64LocSig && le.Uint32(l[4:]) == 0 && le.Uint32(l[16:]) == 1 {
				p := int64(le.Uint64(l[8:]))
				var e [dir64EndLen]byte
				if _, err := ra.ReadAt(e[:], p); err != nil {
					return 0, nil, err
				}
				if le.Uint32(e[:]) != dir64EndSig {
					return 0, nil, errors.New("zip: not a valid zip file")
				}
				endOffset = p
				records = le.Uint64(e[32:])
				dirSize = le.Uint64(e[40:])
				dirOffset = le.Uint64(e[48:])
			}
		}
	}
	if dirSize > maxUint64Int64 || dirOffset > maxUint64Int64 {
		return 0, nil, errors.New("zip: not a valid zip file")
	}
	base := endOffset - int64(dirSize) - int64(dirOffset)
	if o := base + int64(dirOffset); o < 0 || o >= size {
		return 0, nil, errors.New("zip: not a valid zip file")
	}
	starts = []int64{base + int64(dirOffset)}
	if base > 0 {
		starts = append(starts, int64(dirOffset))
	}
	return records, starts, nil
}

// findEnd finds the end of central directory record in b, as
// archive/zip's findSignatureInBlock does.
func findEnd(b []byte) int {
	for i := len(b) - dirEndLen; i >= 0; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			n := int(b[i+dirEndLen-2]) | int(b[i+dirEndLen-1])<<8
			if n+dirEndLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}
