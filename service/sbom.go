package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/sbom"
	"github.com/lapps/lapps/vuln"
)

// WithSBOMLimits bounds the SBOMs the service reads (sbom: sources and
// uploads); zero fields take sbom.DefaultLimits.
func WithSBOMLimits(lim sbom.Limits) Option { return func(l *Local) { l.sbomLimits = lim } }

// scanSBOM scans req.Image, an SBOM file ("sbom:FILE"), opened under the
// service's local roots (a server reads only under server.local_images).
func (l *Local) scanSBOM(ctx context.Context, req ScanRequest) (*report.Report, error) {
	progress := req.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	progress(Progress{Stage: StageResolve})
	name, f, err := image.OpenSBOM(req.Image, l.imageOpts...)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return l.ScanSBOM(ctx, name, req.Key, f, progress)
}

// ScanSBOM reads an SBOM (CycloneDX or SPDX JSON) from r, indexes its
// packages as the index of an image whose manifest digest is the sha256
// of the SBOM's bytes (one synthetic layer of the same digest), matches
// it, and records it as the next numbered scan of name, which must be
// "sbom:" and a path (the file it came from, or an upload's name). key is
// ScanRequest.Key; progress may be nil.
func (l *Local) ScanSBOM(ctx context.Context, name, key string, r io.Reader, progress func(Progress)) (*report.Report, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	if !strings.HasPrefix(name, "sbom:") || len(name) == len("sbom:") {
		return nil, fmt.Errorf("%w: SBOM scans are named sbom:NAME, not %q", ErrBadRequest, name)
	}
	doc, err := sbom.Read(r, l.sbomLimits)
	if err != nil {
		if errors.Is(err, sbom.ErrFormat) {
			// Unreadable as an SBOM: a corrupt image, for exit codes and
			// the API's error codes.
			return nil, fmt.Errorf("%s: %w: %w", name, image.ErrCorrupt, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	idx := SBOMIndex(doc)
	if err := l.st.PutManifest(ctx, idx); err != nil {
		return nil, fmt.Errorf("%s: store index: %w", name, err)
	}
	progress(Progress{Stage: StageMatch, Layers: 1})
	now := l.now().UTC()
	rep, err := l.build(ctx, name, idx, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := l.record(ctx, name, key, idx.ManifestDigest, len(idx.Packages), rep, now); err != nil {
		return nil, fmt.Errorf("%s: record scan: %w", name, err)
	}
	l.log.Debug("scanned SBOM", "name", name, "format", doc.Format, "spec", doc.SpecVersion, "packages", len(doc.Packages), "digest", doc.Digest)
	return rep, nil
}

// SBOMIndex is the image index of an SBOM: its manifest digest is the
// sha256 of the SBOM's bytes, its one layer a synthetic layer of the same
// digest (media type the SBOM's), which every package names as the layer
// it came from. The index is stored like an image's, so the inverted
// package index (and so notifications) reaches it.
func SBOMIndex(doc *sbom.Document) *model.ImageIndex {
	layered := func(ps []vuln.Package) []vuln.Package {
		out := make([]vuln.Package, len(ps))
		for i, p := range ps {
			p.Layer = doc.Digest
			out[i] = p
		}
		return out
	}
	pkgs := layered(doc.Packages)
	warnings := append([]string(nil), doc.Warnings...)
	if doc.Name != "" {
		warnings = append(warnings, fmt.Sprintf("SBOM: %s %s of %s: packages as the SBOM lists them, not read from an image", doc.Format, doc.SpecVersion, doc.Name))
	}
	return &model.ImageIndex{
		ManifestDigest: doc.Digest,
		IndexerVersion: indexer.Version,
		Distribution:   doc.Distribution,
		Layers:         []model.LayerInfo{{Digest: doc.Digest, DiffID: doc.Digest, MediaType: doc.MediaType, Size: doc.Size}},
		Packages:       pkgs,
		OSOwned:        layered(doc.OSOwned),
		Warnings:       warnings,
	}
}

// SBOMScanner scans the bytes of an SBOM: implemented by Local, so that
// a server can scan an uploaded SBOM without reading a path its caller
// names.
type SBOMScanner interface {
	ScanSBOM(ctx context.Context, name, key string, r io.Reader, progress func(Progress)) (*report.Report, error)
}

var _ SBOMScanner = (*Local)(nil)
