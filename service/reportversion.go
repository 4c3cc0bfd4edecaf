package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/store"
)

// ReportVersions tells, cheaply and without matching anything, what a
// report is made of, so that a server can keep encoded reports and know
// when one is out of date. Every version is an opaque string that changes
// whenever the report would; reading it reads a few small rows, never a
// report or an index.
type ReportVersions interface {
	// DataVersion is the version of the current vulnerability data: the
	// latest published update operation of every source. Everything a
	// match reads (records, not-affected statements, enrichment such as
	// severities, KEV and EPSS) is published as an update operation, so
	// any change of it changes the version.
	DataVersion(ctx context.Context) (string, error)
	// ReportVersion is the version of what Report(ref, index) shows
	// besides the data: the normalised image name, the scan's number and
	// its manifest. It fails as Report would when there is no such scan.
	ReportVersion(ctx context.Context, ref string, index int) (string, error)
	// ManifestReportVersion is the version of what ManifestReport(digest)
	// shows besides the data: the images whose latest scan it is (the
	// report is named after the first). It is "" when no image's latest
	// scan is of the manifest (the report is then not worth keeping).
	ManifestReportVersion(ctx context.Context, digest string) (string, error)
}

var _ ReportVersions = (*Local)(nil)

// DataVersion returns the version of the current vulnerability data (see
// ReportVersions).
func (l *Local) DataVersion(ctx context.Context) (string, error) {
	var ops []store.SourceOperation
	if c, ok := l.st.(store.CurrentOperations); ok {
		var err error
		if ops, err = c.CurrentOperations(ctx); err != nil {
			return "", fmt.Errorf("data version: %w", err)
		}
	} else {
		data, err := l.st.SourceData(ctx)
		if err != nil {
			return "", fmt.Errorf("data version: %w", err)
		}
		for _, d := range data {
			ops = append(ops, store.SourceOperation{Source: d.Source, Operation: d.Operation})
		}
	}
	h := sha256.New()
	for _, o := range ops {
		fmt.Fprintf(h, "%s\x00%d\n", o.Source, o.Operation)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// ReportVersion returns the version of the report of scan index of ref
// (0: the latest; see ReportVersions).
func (l *Local) ReportVersion(ctx context.Context, ref string, index int) (string, error) {
	name, err := image.NormalizeName(ref, l.imageOpts...)
	if err != nil {
		return "", err
	}
	scans, err := l.st.ListScans(ctx, name)
	if err != nil {
		return "", err
	}
	var scan *store.Scan
	switch {
	case len(scans) == 0:
	case index == 0:
		scan = &scans[len(scans)-1]
	default:
		for i := range scans {
			if scans[i].Index == index {
				scan = &scans[i]
			}
		}
	}
	if scan == nil {
		if index > 0 {
			return "", fmt.Errorf("%s has no scan #%d: %w", name, index, ErrNotFound)
		}
		return "", fmt.Errorf("no scans of %s (run `lapps image security scan %s`): %w", name, ref, ErrNotFound)
	}
	return strings.Join([]string{name, strconv.Itoa(scan.Index), scan.ManifestDigest,
		strconv.FormatInt(scan.ScannedAt.UnixNano(), 10)}, "\x00"), nil
}

// ManifestReportVersion returns the version of the report of manifest
// digest (see ReportVersions).
func (l *Local) ManifestReportVersion(ctx context.Context, digest string) (string, error) {
	images, err := l.st.ImagesOfManifest(ctx, digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		return "", err
	}
	if len(images) == 0 {
		return "", nil
	}
	return "named " + images[0], nil
}
