package indexer

import (
	"fmt"
	"io"
	"os"
)

// MemoryThreshold is the largest file the walker holds in memory to hand
// to the catalogers. A larger wanted file is copied (at most
// Limits.FileBytes) to a temporary file, which the catalogers read in
// place, and which is removed when the layer is done.
const MemoryThreshold = 1 << 20

// spool holds the content of the file being handed to the catalogers.
// One spool serves a whole layer: its buffer and its temporary file are
// reused from file to file.
type spool struct {
	buf  []byte
	f    *os.File
	name string
}

// load reads size bytes of r and returns them as a reader at.
func (s *spool) load(r io.Reader, size int64) (io.ReaderAt, error) {
	if size <= MemoryThreshold {
		if int64(cap(s.buf)) < size {
			s.buf = make([]byte, size, max(size, min(2*int64(cap(s.buf)), MemoryThreshold)))
		}
		b := s.buf[:size]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return byteReaderAt(b), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "lapps-file-*")
		if err != nil {
			return nil, fmt.Errorf("spool a file to disk: %w", err)
		}
		s.f, s.name = f, f.Name()
		// Unlinked at once where the system allows it, so that nothing is
		// left behind even if the process dies; close removes it
		// otherwise.
		if os.Remove(f.Name()) == nil {
			s.name = ""
		}
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool a file to disk: %w", err)
	}
	n, err := io.CopyN(s.f, r, size)
	if err != nil {
		if n < size && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// A shorter file than the previous one leaves no stale tail on disk.
	if err := s.f.Truncate(size); err != nil {
		return nil, fmt.Errorf("spool a file to disk: %w", err)
	}
	return s.f, nil
}

// close removes the temporary file.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		if s.name != "" {
			os.Remove(s.name)
		}
		s.f = nil
	}
}

// byteReaderAt is an io.ReaderAt over a byte slice.
type byteReaderAt []byte

func (b byteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
