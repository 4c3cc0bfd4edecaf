package rpm

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
)

// This file holds the structural checks run before go-rpmdb reads a
// database. They walk exactly what go-rpmdb's readers will walk, in the
// same order and with the same (wrapping) arithmetic, and refuse every
// case where those readers would panic in their goroutine, never return,
// allocate more than the file holds, print to standard output or leave
// their goroutine blocked, and check the package headers for what
// go-rpmdb's header import would spin or over-allocate on. Writing a reader of our own would have meant
// re-implementing rpm's header format too; this keeps go-rpmdb as the
// parser of record.

// Magic numbers of the formats, as go-rpmdb detects them.
var sqliteMagic = []byte("SQLite format 3\x00")

const (
	ndbHeaderMagic = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic   = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic   = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbSlotsPerPg  = 4096 / 16
	ndbMaxSlotPgs  = 2048
)

// maxHeader bounds one package header. The largest real ones (packages
// of tens of thousands of files) are a few megabytes.
const maxHeader = 16 << 20

// check detects the format of the database at file the way go-rpmdb's
// Open does (SQLite, then NDB, then BerkeleyDB), checks its structure,
// and hands every package header blob, in the order go-rpmdb reads
// them, to emit (the blob is valid during the call only).
func check(ctx context.Context, file string, emit func([]byte) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	switch {
	case len(head) < 32:
		return errNotRPMDB
	case bytes.HasPrefix(head, sqliteMagic):
		return checkSQLite(ctx, file, emit)
	case binary.LittleEndian.Uint32(head[0:]) == ndbHeaderMagic &&
		binary.LittleEndian.Uint32(head[4:]) == 0 && // NDBVersion
		binary.LittleEndian.Uint32(head[12:]) != 0: // SlotNPages
		return checkNDB(ctx, f, st.Size(), binary.LittleEndian.Uint32(head[12:]), emit)
	}
	magic := binary.LittleEndian.Uint32(head[12:])
	if magic != bdb.HashMagicNumber && magic != bdb.HashMagicNumberBE {
		return errNotRPMDB
	}
	return checkBDB(ctx, f, head, emit)
}

// checkSQLite reads every package blob once. go-rpmdb's reader sends an
// error and then goes on sending when the query fails or a blob is NULL,
// which leaves it blocked after ListPackages has returned. Packages must
// be a table: a view would run whatever query the file holds.
func checkSQLite(ctx context.Context, file string, emit func([]byte) error) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return fmt.Errorf("open rpmdb.sqlite: %w", err)
	}
	defer db.Close()
	var typ string
	if err := db.QueryRowContext(ctx, "SELECT type FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE").Scan(&typ); err != nil || typ != "table" {
		return fmt.Errorf("read rpmdb.sqlite: no Packages table (%q, %v)", typ, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT length(blob), CASE WHEN length(blob) > ? THEN NULL ELSE blob END FROM Packages", maxHeader)
	if err != nil {
		return fmt.Errorf("read rpmdb.sqlite: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n sql.NullInt64
		var blob sql.RawBytes
		if err := rows.Scan(&n, &blob); err != nil {
			return fmt.Errorf("read rpmdb.sqlite: %w", err)
		}
		if n.Int64 > maxHeader {
			return fmt.Errorf("read rpmdb.sqlite: a package header of %d bytes, more than %d", n.Int64, maxHeader)
		}
		if blob == nil {
			return errors.New("read rpmdb.sqlite: a package without a header blob")
		}
		if err := checkHeader(blob); err != nil {
			return fmt.Errorf("read rpmdb.sqlite: %w", err)
		}
		if err := emit(blob); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rpmdb.sqlite: %w", err)
	}
	return nil
}

// checkNDB checks the slots and blob headers of an NDB Packages.db.
func checkNDB(ctx context.Context, f *os.File, size int64, slotPages uint32, emit func([]byte) error) error {
	if slotPages > ndbMaxSlotPgs {
		return fmt.Errorf("NDB: %d slot pages, more than %d", slotPages, ndbMaxSlotPgs)
	}
	// The first two slots of the first page are the NDB header.
	slots := make([]byte, (int64(slotPages)*ndbSlotsPerPg-2)*16)
	if _, err := f.ReadAt(slots, 32); err != nil {
		return fmt.Errorf("NDB: read slot pages: %w", err)
	}
	var hdr [16]byte
	var total int64 // blob bytes: overlapping blobs would multiply the work
	for i := 0; i+16 <= len(slots); i += 16 {
		if i%(1<<14) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s := slots[i : i+16]
		if binary.LittleEndian.Uint32(s[0:]) != ndbSlotMagic {
			return fmt.Errorf("NDB: slot %d: bad magic", i/16)
		}
		pkgIndex := binary.LittleEndian.Uint32(s[4:])
		if pkgIndex == 0 {
			continue
		}
		off := int64(binary.LittleEndian.Uint32(s[8:])) * 16
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("NDB: package %d: read blob header at %d: %w", pkgIndex, off, err)
		}
		if binary.LittleEndian.Uint32(hdr[0:]) != ndbBlobMagic {
			return fmt.Errorf("NDB: package %d: bad blob magic", pkgIndex)
		}
		if binary.LittleEndian.Uint32(hdr[4:]) != pkgIndex {
			return fmt.Errorf("NDB: package %d: blob of another package", pkgIndex)
		}
		l := int64(binary.LittleEndian.Uint32(hdr[12:]))
		if l > size-off-16 {
			return fmt.Errorf("NDB: package %d: blob of %d bytes beyond the end of the file", pkgIndex, l)
		}
		if total += l; total > size {
			return fmt.Errorf("NDB: package %d: blobs overlap", pkgIndex)
		}
		if l > maxHeader {
			return fmt.Errorf("NDB: package %d: a header of %d bytes, more than %d", pkgIndex, l, maxHeader)
		}
		blob := make([]byte, l)
		if _, err := f.ReadAt(blob, off+16); err != nil {
			return fmt.Errorf("NDB: package %d: read blob: %w", pkgIndex, err)
		}
		if err := checkHeader(blob); err != nil {
			return fmt.Errorf("NDB: package %d: %w", pkgIndex, err)
		}
		if err := emit(blob); err != nil {
			return err
		}
	}
	return nil
}

// checkBDB walks the hash pages of a BerkeleyDB Packages file and the
// overflow page chains their entries point to, as go-rpmdb's bdb reader
// does.
func checkBDB(ctx context.Context, f *os.File, head []byte, emit func([]byte) error) error {
	meta, err := bdb.ParseHashMetadataPage(head)
	if err != nil {
		return fmt.Errorf("BerkeleyDB: %w", err)
	}
	pageSize := meta.PageSize
	switch pageSize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536:
	default:
		return fmt.Errorf("BerkeleyDB: unexpected page size %d", pageSize)
	}
	page := make([]byte, pageSize)
	overflow := make([]byte, pageSize)
	used := map[uint32]bool{} // overflow pages already part of a chain
	for pageNo := uint64(0); pageNo <= uint64(meta.LastPageNo); pageNo++ {
		if pageNo%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if _, err := f.ReadAt(page, int64(pageNo)*int64(pageSize)); err != nil {
			return fmt.Errorf("BerkeleyDB: read page %d: %w", pageNo, err)
		}
		hp, err := bdb.ParseHashPage(page, meta.Swapped)
		if err != nil {
			return fmt.Errorf("BerkeleyDB: page %d: %w", pageNo, err)
		}
		if hp.PageType != bdb.HashUnsortedPageType && hp.PageType != bdb.HashPageType {
			continue
		}
		// go-rpmdb slices page[26 : 26+2*entries] in uint16 arithmetic.
		if end := bdb.PageHeaderSize + 2*int(hp.NumEntries); end > len(page) || end > 0xffff {
			return fmt.Errorf("BerkeleyDB: page %d: %d entries do not fit", pageNo, hp.NumEntries)
		}
		idxs, err := bdb.HashPageValueIndexes(page, hp.NumEntries, meta.Swapped)
		if err != nil {
			return fmt.Errorf("BerkeleyDB: page %d: %w", pageNo, err)
		}
		for _, idx := range idxs {
			if int(idx) >= len(page) {
				return fmt.Errorf("BerkeleyDB: page %d: entry offset %d beyond the page", pageNo, idx)
			}
			if page[idx] != bdb.HashOffIndexPageType {
				continue
			}
			if end := int(idx) + bdb.HashOffPageSize; end > len(page) || end > 0xffff {
				return fmt.Errorf("BerkeleyDB: page %d: entry at %d beyond the page", pageNo, idx)
			}
			entry, err := bdb.ParseHashOffPageEntry(page[idx:int(idx)+bdb.HashOffPageSize], meta.Swapped)
			if err != nil {
				return fmt.Errorf("BerkeleyDB: page %d: %w", pageNo, err)
			}
			blob, err := checkChain(f, entry.PageNo, pageSize, meta.Swapped, overflow, used)
			if err != nil {
				return fmt.Errorf("BerkeleyDB: page %d: %w", pageNo, err)
			}
			if err := checkHeader(blob); err != nil {
				return fmt.Errorf("BerkeleyDB: page %d: %w", pageNo, err)
			}
			if err := emit(blob); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkChain follows a chain of overflow pages and returns the value
// they hold, as go-rpmdb concatenates it. go-rpmdb loops forever on a page
// of another type in a chain, and on a cycle; a page shared by two chains
// would let a small file claim unbounded memory.
func checkChain(f *os.File, pageNo, pageSize uint32, swapped bool, buf []byte, used map[uint32]bool) ([]byte, error) {
	var value []byte
	for pageNo != 0 {
		if used[pageNo] {
			return nil, fmt.Errorf("overflow page %d is used twice", pageNo)
		}
		used[pageNo] = true
		start := pageSize * pageNo // wraps as go-rpmdb's does
		if _, err := f.ReadAt(buf, int64(start)); err != nil {
			return nil, fmt.Errorf("read overflow page %d: %w", pageNo, err)
		}
		p, err := bdb.ParseHashPage(buf, swapped)
		if err != nil {
			return nil, fmt.Errorf("overflow page %d: %w", pageNo, err)
		}
		if p.PageType != bdb.OverflowPageType {
			return nil, fmt.Errorf("page %d in an overflow chain is of type %d", pageNo, p.PageType)
		}
		if len(value) > maxHeader {
			return nil, fmt.Errorf("a package header of more than %d bytes", maxHeader)
		}
		if p.NextPageNo == 0 {
			// go-rpmdb slices buf[26 : uint16(26+FreeAreaOffset)].
			end := uint16(bdb.PageHeaderSize) + p.FreeAreaOffset
			if end < bdb.PageHeaderSize || int(end) > len(buf) {
				return nil, fmt.Errorf("overflow page %d: bad free area offset %d", pageNo, p.FreeAreaOffset)
			}
			value = append(value, buf[bdb.PageHeaderSize:end]...)
		} else {
			value = append(value, buf[bdb.PageHeaderSize:]...)
		}
		pageNo = p.NextPageNo
	}
	return value, nil
}

// Header entry types whose data are NUL-terminated strings.
const (
	rpmString      = 6
	rpmStringArray = 8
	rpmI18NString  = 9
)

// checkHeader checks what go-rpmdb's header import trusts: that the index
// fits in the blob (it allocates the index before checking its size) and
// that string entries hold the NUL-terminated strings their count
// promises (it loops count times, up to four billion, over a string
// without its NUL). It also bounds the string data scanned to twice the
// blob, which overlapping entries would exceed.
func checkHeader(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("package header of %d bytes", len(b))
	}
	be := binary.BigEndian
	il := int64(int32(be.Uint32(b)))
	dl := int64(int32(be.Uint32(b[4:])))
	if il < 1 || dl < 0 || 8+16*il+dl > int64(len(b)) {
		return fmt.Errorf("package header: %d entries and %d data bytes do not fit in %d bytes", il, dl, len(b))
	}
	dataStart := 8 + 16*il
	dataEnd := dataStart + dl
	var scanned int64
	for i := int64(0); i < il; i++ {
		e := b[8+16*i : 8+16*i+16]
		typ := be.Uint32(e[4:])
		if typ != rpmString && typ != rpmStringArray && typ != rpmI18NString {
			continue
		}
		start := dataStart + int64(int32(be.Uint32(e[8:])))
		count := int64(be.Uint32(e[12:]))
		if start < dataStart || start >= dataEnd {
			return fmt.Errorf("package header: entry %d: data offset out of range", i)
		}
		if count > dataEnd-start {
			return fmt.Errorf("package header: entry %d: %d strings in %d bytes", i, count, dataEnd-start)
		}
		p := start
		for c := count; c > 0; c-- {
			j := bytes.IndexByte(b[p:dataEnd], 0)
			if j < 0 {
				return fmt.Errorf("package header: entry %d: unterminated string", i)
			}
			p += int64(j) + 1
		}
		if scanned += p - start; scanned > 2*int64(len(b)) {
			return fmt.Errorf("package header: overlapping entries")
		}
	}
	return nil
}
