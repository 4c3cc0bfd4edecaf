// Package imagegen generates test inputs, hostile ones above all: image
// layouts, docker-archives, layers, tar entries (including the GNU sparse
// files archive/tar cannot write) and zip archives, written as streams so
// that an input that claims gigabytes takes a few megabytes to make.
// Tests use it instead of keeping large files in the repository.
package imagegen

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Entry is one member of a generated tar stream.
type Entry struct {
	Name string
	// Size and Body: Body writes exactly Size bytes.
	Size int64
	Body func(w io.Writer) error
	// Typ is the tar type flag (tar.TypeReg when zero).
	Typ byte
	// Raw, when set, writes the member's blocks itself (crafted headers
	// archive/tar cannot write, such as sparse files).
	Raw func(w io.Writer) error
}

// File is a regular file with the given content.
func File(name, content string) Entry {
	return Entry{Name: name, Size: int64(len(content)), Body: func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	}}
}

// Repeated is a regular file of n copies of chunk.
func Repeated(name string, chunk []byte, n int64) Entry {
	return Entry{Name: name, Size: int64(len(chunk)) * n, Body: func(w io.Writer) error {
		for i := int64(0); i < n; i++ {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}}
}

// Zeros is a regular file of n zero bytes.
func Zeros(name string, n int64) Entry {
	return Entry{Name: name, Size: n, Body: func(w io.Writer) error {
		_, err := io.CopyN(w, zeroReader{}, n)
		return err
	}}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// WriteTar writes entries as a tar stream.
func WriteTar(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if e.Raw != nil {
			if err := tw.Flush(); err != nil {
				return err
			}
			if err := e.Raw(w); err != nil {
				return err
			}
			continue
		}
		typ := e.Typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.Name, Typeflag: typ, Mode: 0o644, Size: e.Size, Format: tar.FormatPAX}
		if typ == tar.TypeDir {
			hdr.Mode, hdr.Size = 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if e.Body != nil {
			if err := e.Body(tw); err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
		}
	}
	return tw.Close()
}

// tarBlock builds one 512-byte ustar header block with its checksum.
func tarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// pad writes zeros up to the next multiple of 512 after n bytes.
func pad(w io.Writer, n int64) error {
	if r := n % 512; r != 0 {
		_, err := w.Write(make([]byte, 512-r))
		return err
	}
	return nil
}

// Sparse is a GNU sparse file in the PAX 1.0 format (what GNU tar
// writes for files with holes): a few bytes stored, realSize bytes when
// read. archive/tar reads such files, expanding the holes, but cannot
// write them, so the blocks are crafted here.
func Sparse(name string, realSize int64) Entry {
	return Entry{Raw: func(w io.Writer) error {
		recs := ""
		for _, kv := range [][2]string{
			{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"},
			{"GNU.sparse.name", name}, {"GNU.sparse.realsize", strconv.FormatInt(realSize, 10)},
		} {
			rec := " " + kv[0] + "=" + kv[1] + "\n"
			n := len(rec)
			for {
				l := len(strconv.Itoa(n)) + len(rec)
				if l == n {
					break
				}
				n = l
			}
			recs += strconv.Itoa(n) + rec
		}
		if _, err := w.Write(tarBlock("PaxHeaders/"+name, 'x', int64(len(recs)))); err != nil {
			return err
		}
		if _, err := io.WriteString(w, recs); err != nil {
			return err
		}
		if err := pad(w, int64(len(recs))); err != nil {
			return err
		}
		// The data: the sparse map (one region: the last byte) in its own
		// 512-byte block, then the region's one byte.
		sparseMap := fmt.Sprintf("1\n%d\n1\n", realSize-1)
		data := make([]byte, 512+1)
		copy(data, sparseMap)
		data[512] = '}'
		if _, err := w.Write(tarBlock("GNUSparseFile.0/"+name, tar.TypeReg, int64(len(data)))); err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return pad(w, int64(len(data)))
	}}
}

// Blob is a file written into a layout's blob store, with its digest.
type Blob struct {
	Digest    string // "sha256:…"
	Size      int64
	MediaType string
	Path      string
}

// Compression of a generated layer.
type Compression int

// Compressions.
const (
	Uncompressed Compression = iota
	Gzipped
	Zstded
)

// WriteBlob writes what gen produces, compressed as c, to a file in dir,
// and returns it with the digest of the stored bytes and the digest of the
// uncompressed stream (the layer's diff ID).
func WriteBlob(t *testing.T, dir string, c Compression, gen func(w io.Writer) error) (b Blob, diffID string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "blob-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, stored)}
	var w io.Writer = cw
	var closer io.Closer
	switch c {
	case Gzipped:
		zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
		w, closer = zw, zw
	case Zstded:
		zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			t.Fatal(err)
		}
		w, closer = zw, zw
	}
	raw := sha256.New()
	if err := gen(io.MultiWriter(w, raw)); err != nil {
		t.Fatal(err)
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mt := map[Compression]string{
		Uncompressed: "application/vnd.oci.image.layer.v1.tar",
		Gzipped:      "application/vnd.oci.image.layer.v1.tar+gzip",
		Zstded:       "application/vnd.oci.image.layer.v1.tar+zstd",
	}[c]
	return Blob{Digest: "sha256:" + hex.EncodeToString(stored.Sum(nil)), Size: cw.n, MediaType: mt, Path: f.Name()},
		"sha256:" + hex.EncodeToString(raw.Sum(nil))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Layer is one layer of a generated image: its blob and the diff ID the
// configuration claims for it.
type Layer struct {
	Blob   Blob
	DiffID string
}

// TarLayer generates a layer from entries.
func TarLayer(t *testing.T, dir string, c Compression, entries ...Entry) Layer {
	t.Helper()
	b, diffID := WriteBlob(t, dir, c, func(w io.Writer) error { return WriteTar(w, entries) })
	return Layer{Blob: b, DiffID: diffID}
}

// ImageConfig returns an image configuration with the given diff IDs.
func ImageConfig(diffIDs []string, arch string) []byte {
	if arch == "" {
		arch = "amd64"
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux",
		"config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	return b
}

// OCILayout writes an OCI image layout in dir holding one image made of
// layers (a layer may appear several times), tagged "hostile", and
// returns its reference "oci:DIR:hostile".
func OCILayout(t *testing.T, dir string, layers []Layer, arch string) string {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(Digest, src string, data []byte) {
		dst := filepath.Join(blobs, strings.TrimPrefix(Digest, "sha256:"))
		if _, err := os.Stat(dst); err == nil {
			return
		}
		if src != "" {
			// A hard link, so that one generated blob can go into several
			// layouts; a copy where linking is not possible.
			if err := os.Link(src, dst); err == nil {
				return
			}
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			data = b
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var descs []map[string]any
	var diffIDs []string
	for _, l := range layers {
		put(l.Blob.Digest, l.Blob.Path, nil)
		descs = append(descs, map[string]any{"mediaType": l.Blob.MediaType, "digest": l.Blob.Digest, "size": l.Blob.Size})
		diffIDs = append(diffIDs, l.DiffID)
	}
	cfg := ImageConfig(diffIDs, arch)
	cfgDigest := DigestOf(cfg)
	put(cfgDigest, "", cfg)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": len(cfg)},
		"layers":        descs,
	})
	md := DigestOf(manifest)
	put(md, "", manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "hostile"},
		}},
	})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir + ":hostile"
}

// DigestOf is "sha256:" and the hex SHA-256 of b.
func DigestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// DockerArchive writes a `docker save` archive at path holding one image
// whose layers are the given uncompressed layer files, with the diff IDs
// the configuration claims (which need not be theirs), and returns
// "docker-archive:PATH".
func DockerArchive(t *testing.T, path string, layers []Layer) string {
	t.Helper()
	var entries []Entry
	var names, diffIDs []string
	for i, l := range layers {
		name := fmt.Sprintf("layer%d/layer.tar", i)
		names = append(names, name)
		diffIDs = append(diffIDs, l.DiffID)
		src := l.Blob.Path
		entries = append(entries, Entry{Name: name, Size: l.Blob.Size, Body: func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		}})
	}
	cfg := ImageConfig(diffIDs, "")
	cfgName := strings.TrimPrefix(DigestOf(cfg), "sha256:") + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"hostile:latest"}, "Layers": names}})
	entries = append(entries, File(cfgName, string(cfg)), File("manifest.json", string(manifest)))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteTar(f, entries); err != nil {
		t.Fatal(err)
	}
	return "docker-archive:" + path
}

// DPKGStatus writes a dpkg status database of n installed packages.
func DPKGStatus(n int) Entry {
	rec := func(i int) string {
		return fmt.Sprintf("Package: pkg%07d\nStatus: install ok installed\nVersion: 1.0-%d\nArchitecture: amd64\n\n", i, i%10)
	}
	var size int64
	for i := 0; i < n; i++ {
		size += int64(len(rec(i)))
	}
	return Entry{Name: "var/lib/dpkg/status", Size: size, Body: func(w io.Writer) error {
		bw := &bytes.Buffer{}
		for i := 0; i < n; i++ {
			bw.WriteString(rec(i))
			if bw.Len() > 1<<20 {
				if _, err := w.Write(bw.Bytes()); err != nil {
					return err
				}
				bw.Reset()
			}
		}
		_, err := w.Write(bw.Bytes())
		return err
	}}
}

// OSRelease is an os-release file for a Debian 12 image.
func OSRelease() Entry {
	return File("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")
}

// ZipMember is one file of a generated zip.
type ZipMember struct {
	Name string
	// Gen writes the member's content; it is deflated.
	Gen func(w io.Writer) error
	// Claim, when set, stores Content as is (no compression) under a
	// header that claims this uncompressed size (a lie).
	Claim   uint64
	Content []byte
}

// WriteZip writes a zip archive of members to path.
func WriteZip(t *testing.T, path string, members ...ZipMember) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	for _, m := range members {
		if m.Claim > 0 {
			w, err := zw.CreateRaw(&zip.FileHeader{
				Name: m.Name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(m.Content),
				CompressedSize64: uint64(len(m.Content)), UncompressedSize64: m.Claim,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(m.Content); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := zw.Create(m.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Gen(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
