package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/limits"
)

// tarMember is where a regular file's content lies inside a tar archive.
type tarMember struct {
	offset, size int64
}

// Bounds of an archive's index: what a hostile archive of many members or
// long names could otherwise make it hold. No image archive comes near
// them (a docker-archive or OCI layout holds a few files per layer); they
// are not configurable.
const (
	// maxArchiveMembers bounds the members (files and links) indexed.
	maxArchiveMembers = 65536
	// maxMemberName is the longest member name indexed; longer names are
	// skipped, as no file an image is read from has one.
	maxMemberName = 1024
)

// indexTar lists the regular files of an uncompressed tar archive with the
// offsets of their contents, so that archive transports read blobs in place
// with io.SectionReader (concurrently, through ReadAt) and never extract
// anything. Names are cleaned ("./blobs/x" is "blobs/x"); hard and symbolic links
// point at their target's content (one level). Written here because neither the standard
// library nor go-containerregistry exposes member offsets.
//
// An archive that is empty, not a tar archive, or truncated (a member's
// content running past the end of the file) is ErrCorrupt; a compressed
// one is refused with a hint.
func indexTar(r io.ReadSeeker) (map[string]tarMember, error) {
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if end == 0 {
		return nil, fmt.Errorf("%w: empty file, not a tar archive", ErrCorrupt)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var magic [6]byte
	if n, _ := io.ReadFull(r, magic[:]); n > 0 {
		if err := compressedArchive(magic[:n]); err != nil {
			return nil, err
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	members := map[string]tarMember{}
	links := map[string]string{}
	tr := tar.NewReader(r)
	// next is where the header after the last entry read must start.
	var next int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// A tar archive ends with zero blocks, which tar.Reader
			// consumes before io.EOF; an archive that stops at a header
			// boundary without them was cut short.
			if pos, serr := r.Seek(0, io.SeekCurrent); serr != nil || pos <= next || next > end {
				return nil, fmt.Errorf("%w: truncated archive: it ends at %d bytes without the end-of-archive blocks", ErrCorrupt, end)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a tar archive, or a damaged or truncated one: %w", ErrCorrupt, err)
		}
		// tar.Reader reads headers exactly and seeks over contents, so
		// the position after Next is the content's offset.
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		if hdr.Size >= 0 && hdr.Size <= end {
			next = off + (hdr.Size+511)&^511
		}
		if len(hdr.Name) > maxMemberName || len(hdr.Linkname) > maxMemberName {
			continue
		}
		if len(members)+len(links) >= maxArchiveMembers {
			return nil, limits.New("members of the archive", maxArchiveMembers, "members", "")
		}
		name := cleanMember(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			if isSparse(hdr) {
				continue // content is not contiguous in the archive
			}
			if hdr.Size < 0 || off+hdr.Size > end {
				return nil, fmt.Errorf("%w: truncated archive: %s needs %d bytes at offset %d, the file has %d", ErrCorrupt, name, hdr.Size, off, end)
			}
			members[name] = tarMember{offset: off, size: hdr.Size}
		case tar.TypeLink:
			links[name] = cleanMember(hdr.Linkname)
		case tar.TypeSymlink: // skopeo links <id>/layer.tar to the layer file
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			links[name] = cleanMember(target)
		}
	}
	for name, target := range links {
		if m, ok := members[target]; ok {
			members[name] = m
		}
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("%w: not a tar archive, or one holding no file", ErrCorrupt)
	}
	return members, nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func cleanMember(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// compressedArchive refuses compressed archives: their members cannot be
// read in place.
func compressedArchive(magic []byte) error {
	for _, c := range []struct {
		magic []byte
		name  string
	}{{magicGzip, "gzip"}, {magicZstd, "zstd"}, {magicBzip2, "bzip2"}, {magicXz, "xz"}} {
		if bytes.HasPrefix(magic, c.magic) {
			return fmt.Errorf("the archive is %s-compressed; decompress it first (archives are read in place)", c.name)
		}
	}
	return nil
}
