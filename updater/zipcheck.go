package updater

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lapps/lapps/limits"
)

// checkZipDirectory bounds the central directory of a zip archive before
// archive/zip reads it: zip.NewReader keeps one *zip.File (about 300
// bytes) and the name, extra field and comment of every entry in memory,
// for as many headers as follow one another, whatever the archive
// declares; an archive of a gigabyte of tiny headers would take several.
// It finds the directory as archive/zip does (the end record in the last
// 65 KiB, its zip64 form, the base offset of data prepended to the
// archive) and counts the headers at each offset archive/zip may start
// from, stopping at the bound: more than lim.Files entries, or more than
// 128 bytes of directory per allowed file, is a *limits.Error naming
// max_files. An end record it cannot find or read is an error too, so
// that nothing it did not count reaches archive/zip.
func checkZipDirectory(r io.ReaderAt, size int64, name string, lim Limits) error {
	end, err := zipDirectoryEnd(r, size)
	if err != nil {
		return fmt.Errorf("zip archive %s: %w", name, err)
	}
	maxBytes := int64(lim.Files) * zipDirectoryBytesPerFile
	starts := []int64{end.base + end.offset}
	if end.base > 0 {
		starts = append(starts, end.offset) // archive/zip's fallback to base 0
	}
	for _, off := range starts {
		if off < 0 || off >= size {
			continue
		}
		br := bufio.NewReaderSize(io.NewSectionReader(r, off, size-off), 64<<10)
		var (
			hdr   [46]byte
			n     int
			bytes int64
		)
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				break // archive/zip stops here too
			}
			if binary.LittleEndian.Uint32(hdr[:4]) != 0x02014b50 {
				break
			}
			n++
			if n > lim.Files {
				return limits.New("entries of zip archive "+name, int64(lim.Files), "entries", KeyMaxFiles)
			}
			vl := int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) + int64(binary.LittleEndian.Uint16(hdr[32:]))
			bytes += 46 + vl
			if bytes > maxBytes {
				return limits.New(fmt.Sprintf("central directory of zip archive %s (%d bytes per allowed file)", name, zipDirectoryBytesPerFile), maxBytes, "bytes", KeyMaxFiles)
			}
			if _, err := br.Discard(int(vl)); err != nil {
				break
			}
		}
	}
	return nil
}

// zipEnd is what checkZipDirectory needs of a zip end record.
type zipEnd struct {
	offset int64 // directory offset as recorded
	base   int64 // offset of the archive in the file (prepended data)
}

// zipDirectoryEnd reads the end of central directory record as
// archive/zip's readDirectoryEnd does.
func zipDirectoryEnd(r io.ReaderAt, size int64) (*zipEnd, error) {
	bLen := min(size, 65*1024)
	buf := make([]byte, bLen)
	if _, err := r.ReadAt(buf, size-bLen); err != nil && err != io.EOF {
		return nil, err
	}
	p := -1
	for i := len(buf) - 22; i >= 0; i-- {
		if buf[i] == 'P' && bytes.Equal(buf[i:i+4], []byte("PK\x05\x06")) {
			// As archive/zip: the last signature, if its comment fits.
			if n := int(binary.LittleEndian.Uint16(buf[i+20:])); n+22+i <= len(buf) {
				p = i
			}
			break
		}
	}
	if p < 0 {
		return nil, errors.New("no end of central directory record")
	}
	b := buf[p:]
	endOffset := size - bLen + int64(p)
	records := uint64(binary.LittleEndian.Uint16(b[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(b[12:]))
	dirOffset := uint64(binary.LittleEndian.Uint32(b[16:]))
	if records == 0xffff || dirSize == 0xffff || dirOffset == 0xffffffff {
		// zip64: a locator just before the end record points at the zip64
		// end record.
		if loc := endOffset - 20; loc >= 0 {
			var l [20]byte
			if _, err := r.ReadAt(l[:], loc); err != nil && err != io.EOF {
				return nil, err
			}
			if binary.LittleEndian.Uint32(l[:]) == 0x07064b50 && binary.LittleEndian.Uint32(l[4:]) == 0 && binary.LittleEndian.Uint32(l[16:]) == 1 {
				p64 := binary.LittleEndian.Uint64(l[8:])
				if p64 > uint64(size) {
					return nil, errors.New("zip64 end record beyond the end of the file")
				}
				var e [56]byte
				if _, err := r.ReadAt(e[:], int64(p64)); err != nil && err != io.EOF {
					return nil, err
				}
				if binary.LittleEndian.Uint32(e[:]) != 0x06064b50 {
					return nil, errors.New("bad zip64 end record")
				}
				dirSize = binary.LittleEndian.Uint64(e[40:])
				dirOffset = binary.LittleEndian.Uint64(e[48:])
				endOffset = int64(p64)
			}
		}
	}
	if dirSize > 1<<62 || dirOffset > 1<<62 {
		return nil, errors.New("impossible central directory")
	}
	return &zipEnd{offset: int64(dirOffset), base: endOffset - int64(dirSize) - int64(dirOffset)}, nil
}
