package java

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func zipOfN(t testing.TB, n int, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("e%d", i), Method: method}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckDirectory(t *testing.T) {
	b := zipOfN(t, 1000, zip.Store)
	n, _, err := checkDirectory(bytes.NewReader(b), int64(len(b)), maxEntries, maxDirectoryBytes)
	if err != nil || n != 1000 {
		t.Fatalf("%d entries, %v", n, err)
	}
	if _, _, err := checkDirectory(bytes.NewReader(b), int64(len(b)), 999, maxDirectoryBytes); !errors.Is(err, errDirectory) {
		t.Errorf("999 entries allowed: %v", err)
	}
	if _, _, err := checkDirectory(bytes.NewReader(b), int64(len(b)), maxEntries, 1000); !errors.Is(err, errDirectory) {
		t.Errorf("1000 bytes allowed: %v", err)
	}
	// A zip64 end record claiming 2^40 entries, which archive/zip would
	// preallocate up to a thirtieth of the file's size of.
	z64 := zip64Claiming(t, 1<<40)
	if _, _, err := checkDirectory(bytes.NewReader(z64), int64(len(z64)), maxEntries, maxDirectoryBytes); !errors.Is(err, errDirectory) {
		t.Errorf("a claim of 2^40 entries: %v", err)
	}
	// An end record claiming one entry (modulo 65536) in front of many:
	// counted as read, not as claimed.
	lying := zipOfN(t, 65537, zip.Store)
	if _, _, err := checkDirectory(bytes.NewReader(lying), int64(len(lying)), 65536, maxDirectoryBytes); !errors.Is(err, errDirectory) {
		t.Errorf("65537 entries claimed as 1: %v", err)
	}
}

// zip64Claiming returns an empty archive whose end records say it holds
// records entries.
func zip64Claiming(t *testing.T, records uint64) []byte {
	le := binary.LittleEndian
	var b []byte
	end64 := make([]byte, 56)
	le.PutUint32(end64, 0x06064b50)
	le.PutUint64(end64[4:], 44)
	le.PutUint64(end64[24:], records)
	le.PutUint64(end64[32:], records)
	le.PutUint64(end64[40:], 0) // directory size
	le.PutUint64(end64[48:], 0) // directory offset
	b = append(b, end64...)
	loc := make([]byte, 20)
	le.PutUint32(loc, 0x07064b50)
	le.PutUint64(loc[8:], 0)
	le.PutUint32(loc[16:], 1)
	b = append(b, loc...)
	end := make([]byte, 22)
	le.PutUint32(end, 0x06054b50)
	le.PutUint16(end[8:], 0xffff)
	le.PutUint16(end[10:], 0xffff)
	le.PutUint32(end[12:], 0xffffffff)
	le.PutUint32(end[16:], 0xffffffff)
	b = append(b, end...)
	return b
}

// FuzzCheckDirectory checks that checkDirectory never counts fewer
// entries than archive/zip reads, and never claims a limit archive/zip
// would not reach.
func FuzzCheckDirectory(f *testing.F) {
	f.Add(zipOfN(f, 3, zip.Store))
	f.Add(zipOfN(f, 2, zip.Deflate))
	f.Add(append([]byte("#!/bin/sh\nexec java -jar $0\n"), zipOfN(f, 2, zip.Store)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, err := checkDirectory(bytes.NewReader(b), int64(len(b)), maxEntries, maxDirectoryBytes)
		zr, zerr := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if zerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("archive/zip reads %d entries; checkDirectory: %v", len(zr.File), err)
		}
		if int64(len(zr.File)) > n {
			t.Fatalf("archive/zip reads %d entries; checkDirectory counted %d", len(zr.File), n)
		}
	})
}
