// Package elfcheck guards debug/elf and debug/buildinfo against hostile
// executables. debug/elf trusts an ELF file's header for the number of
// section headers it reads and for the size of the section name table it
// loads; debug/buildinfo reads strings of the length the file claims.
// Both only stop at the end of the file, so an executable as large as
// the walker hands over (up to limits.file_bytes) could make them hold
// hundreds of megabytes. Check refuses what no real executable has;
// Limit bounds every single read.
package elfcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Bounds of what an executable may claim.
const (
	// MaxSections is the most section headers read: real executables
	// have tens, relocatable objects built with a section per function
	// tens of thousands.
	MaxSections = 1 << 16
	// MaxNames is the largest section name table read.
	MaxNames = 4 << 20
	// MaxRead is the largest single read Limit allows.
	MaxRead = 8 << 20
)

// ErrTooLarge is returned by the reader of Limit for a read larger than
// MaxRead.
var ErrTooLarge = fmt.Errorf("a read of more than %d bytes from an executable", MaxRead)

// Check reads the ELF header and the section headers debug/elf would
// trust, and returns an error when they claim more than the bounds. A
// file that is not ELF passes (debug/elf refuses it); so does a header
// too damaged to read (debug/elf refuses it too).
func Check(ra io.ReaderAt) error {
	var h [64]byte
	if n, _ := ra.ReadAt(h[:], 0); n < 52 || string(h[:4]) != "\x7fELF" {
		return nil
	}
	var bo binary.ByteOrder
	switch h[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return nil
	}
	var (
		shoff                  uint64
		phnum, shnum, shstrndx int
		is64                   bool
	)
	switch h[4] {
	case 1:
		shoff = uint64(bo.Uint32(h[32:]))
		phnum = int(bo.Uint16(h[44:]))
		shnum = int(bo.Uint16(h[48:]))
		shstrndx = int(bo.Uint16(h[50:]))
	case 2:
		is64 = true
		shoff = bo.Uint64(h[40:])
		phnum = int(bo.Uint16(h[56:]))
		shnum = int(bo.Uint16(h[60:]))
		shstrndx = int(bo.Uint16(h[62:]))
	default:
		return nil
	}
	if phnum == 0xffff {
		return errors.New("ELF: extended program header numbering")
	}
	// section returns the type, flags, size and link of section i.
	section := func(i int) (typ uint32, flags, size uint64, link uint32, err error) {
		var s [64]byte
		if is64 {
			if _, err := ra.ReadAt(s[:64], int64(shoff)+int64(i)*64); err != nil {
				return 0, 0, 0, 0, err
			}
			return bo.Uint32(s[4:]), bo.Uint64(s[8:]), bo.Uint64(s[32:]), bo.Uint32(s[40:]), nil
		}
		if _, err := ra.ReadAt(s[:40], int64(shoff)+int64(i)*40); err != nil {
			return 0, 0, 0, 0, err
		}
		return bo.Uint32(s[4:]), uint64(bo.Uint32(s[8:])), uint64(bo.Uint32(s[20:])), bo.Uint32(s[24:]), nil
	}
	if int64(shoff) <= 0 {
		return nil
	}
	if shnum == 0 {
		// Extended numbering: the count is section 0's size, the name
		// table's index its link.
		_, _, size, link, err := section(0)
		if err != nil {
			return nil
		}
		if size > MaxSections {
			return fmt.Errorf("ELF: %d sections, more than %d", size, MaxSections)
		}
		shnum = int(size)
		if shstrndx == 0xffff {
			shstrndx = int(link)
		}
	}
	if shstrndx == 0 || shstrndx >= shnum {
		return nil
	}
	typ, flags, size, _, err := section(shstrndx)
	if err != nil || typ != 3 { // SHT_STRTAB
		return nil
	}
	if flags&0x800 != 0 { // SHF_COMPRESSED: decompressed to a size the file claims
		return errors.New("ELF: a compressed section name table")
	}
	if size > MaxNames {
		return fmt.Errorf("ELF: a section name table of %d bytes, more than %d", size, MaxNames)
	}
	return nil
}

// Limit returns a reader of ra that fails any single read larger than
// MaxRead: what debug/buildinfo asks for a string is the length the file
// claims.
func Limit(ra io.ReaderAt) io.ReaderAt { return limited{ra} }

type limited struct{ ra io.ReaderAt }

func (l limited) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > MaxRead {
		return 0, ErrTooLarge
	}
	return l.ra.ReadAt(p, off)
}
