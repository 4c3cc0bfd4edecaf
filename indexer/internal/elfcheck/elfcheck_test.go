package elfcheck_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/lapps/lapps/indexer/internal/elfcheck"
)

// header64 is a little-endian ELF64 header whose section headers start
// at shoff.
func header64(shoff uint64, shnum, shstrndx uint16) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(h[16:], 2)  // ET_EXEC
	binary.LittleEndian.PutUint16(h[18:], 62) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint64(h[40:], shoff)
	binary.LittleEndian.PutUint16(h[52:], 64)
	binary.LittleEndian.PutUint16(h[58:], 64)
	binary.LittleEndian.PutUint16(h[60:], shnum)
	binary.LittleEndian.PutUint16(h[62:], shstrndx)
	return h
}

// section64 is a section header.
func section64(typ uint32, flags, size uint64, link uint32) []byte {
	s := make([]byte, 64)
	binary.LittleEndian.PutUint32(s[4:], typ)
	binary.LittleEndian.PutUint64(s[8:], flags)
	binary.LittleEndian.PutUint64(s[24:], 0)
	binary.LittleEndian.PutUint64(s[32:], size)
	binary.LittleEndian.PutUint32(s[40:], link)
	return s
}

func TestCheck(t *testing.T) {
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		file []byte
		ok   bool
	}{
		{"this test binary", self, true},
		{"not ELF", []byte("#!/bin/sh\necho hello\n"), true},
		{"a small name table", cat(header64(64, 2, 1), section64(0, 0, 0, 0), section64(3, 0, 1000, 0)), true},
		{"a huge name table", cat(header64(64, 2, 1), section64(0, 0, 0, 0), section64(3, 0, 1<<30, 0)), false},
		{"a compressed name table", cat(header64(64, 2, 1), section64(0, 0, 0, 0), section64(3, 0x800, 100, 0)), false},
		{"extended numbering, too many sections", cat(header64(64, 0, 0xffff), section64(0, 0, 1<<24, 1)), false},
		{"extended numbering within bounds", cat(header64(64, 0, 0xffff), section64(0, 0, 0xff00, 1)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := elfcheck.Check(bytes.NewReader(tc.file))
			if tc.ok != (err == nil) {
				t.Fatalf("error %v", err)
			}
		})
	}
	// The guarded reader still reads a real executable.
	if _, err := buildinfo.Read(elfcheck.Limit(bytes.NewReader(self))); err != nil {
		t.Errorf("build info of this test binary: %v", err)
	}
	if _, err := elfcheck.Limit(bytes.NewReader(self)).ReadAt(make([]byte, elfcheck.MaxRead+1), 0); !errors.Is(err, elfcheck.ErrTooLarge) {
		t.Errorf("a read beyond MaxRead: %v", err)
	}
}

// FuzzCheck feeds arbitrary headers to Check and, when it passes, to
// debug/elf and debug/buildinfo through Limit: none may panic.
func FuzzCheck(f *testing.F) {
	f.Add(append(header64(64, 2, 1), append(section64(0, 0, 0, 0), section64(3, 0, 10, 0)...)...))
	f.Add([]byte("\x7fELF\x01\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ra := bytes.NewReader(b)
		if elfcheck.Check(ra) != nil {
			return
		}
		if f, err := elf.NewFile(elfcheck.Limit(ra)); err == nil {
			f.Close()
		}
		buildinfo.Read(elfcheck.Limit(ra))
	})
}
