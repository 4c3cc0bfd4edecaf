package config

import (
	"fmt"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/sbom"
)

// Limits bounds what a scan reads of an image, whoever asks for it (the
// command line or the server). Zero fields take lapps' defaults; the
// defaults fit every real image we know of, and exist so that a hostile
// image cannot take a scan beyond them (docs/config.md lists them).
type Limits struct {
	// MetadataBytes bounds a manifest, an index or an image configuration,
	// as served or decompressed (default 16 MiB).
	MetadataBytes ByteSize `yaml:"metadata_bytes"`
	// Layers bounds the layers of an image (default 256).
	Layers int `yaml:"layers"`
	// LayerBytes bounds the decompressed bytes of one layer (default 8 GiB).
	LayerBytes ByteSize `yaml:"layer_bytes"`
	// ScanBytes bounds the decompressed bytes of all the layers of an image
	// read by one scan (default 32 GiB).
	ScanBytes ByteSize `yaml:"scan_bytes"`
	// CompressionRatio bounds decompressed / compressed bytes of a layer,
	// judged once 64 MiB have been decompressed (default 1000).
	CompressionRatio int64 `yaml:"compression_ratio"`
	// LayerEntries bounds the tar entries of one layer (default 1,000,000).
	LayerEntries int64 `yaml:"layer_entries"`
	// FileBytes bounds one file handed to a cataloger; a larger package
	// database is skipped with a warning (default 256 MiB).
	FileBytes ByteSize `yaml:"file_bytes"`
	// Packages bounds the packages of an image (default 100,000).
	Packages int64 `yaml:"packages"`
	// SecretFileBytes bounds a file whose content the file checks and the
	// secret scan read (default 1 MiB).
	SecretFileBytes ByteSize `yaml:"secret_file_bytes"`
	// SBOMBytes bounds an SBOM file scanned (sbom:FILE, lapps sbom scan;
	// default 64 MiB).
	SBOMBytes ByteSize `yaml:"sbom_bytes"`
	// SBOMComponents bounds the components (CycloneDX) or packages (SPDX)
	// of an SBOM (default 100,000).
	SBOMComponents int64 `yaml:"sbom_components"`
}

func (l Limits) validate() error {
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"metadata_bytes", int64(l.MetadataBytes)}, {"layers", int64(l.Layers)}, {"layer_bytes", int64(l.LayerBytes)},
		{"scan_bytes", int64(l.ScanBytes)}, {"compression_ratio", l.CompressionRatio}, {"layer_entries", l.LayerEntries},
		{"file_bytes", int64(l.FileBytes)}, {"packages", l.Packages}, {"secret_file_bytes", int64(l.SecretFileBytes)},
		{"sbom_bytes", int64(l.SBOMBytes)}, {"sbom_components", l.SBOMComponents},
	} {
		if f.v < 0 {
			return fmt.Errorf("limits.%s: must not be negative (0 takes the default)", f.key)
		}
	}
	if l.LayerBytes > 0 && l.ScanBytes > 0 && l.ScanBytes < l.LayerBytes {
		return fmt.Errorf("limits.scan_bytes %s is below limits.layer_bytes %s", l.ScanBytes, l.LayerBytes)
	}
	return nil
}

// ByteSize is a number of bytes, written in the configuration as a number
// or with a unit (limits.ByteSize).
type ByteSize = limits.ByteSize

// ParseByteSize parses a ByteSize (limits.ParseByteSize).
func ParseByteSize(s string) (ByteSize, error) { return limits.ParseByteSize(s) }

// ImageLimits returns the bounds of the image package (zero fields take
// its defaults).
func (l Limits) ImageLimits() image.Limits {
	return image.Limits{
		MetadataBytes:    int64(l.MetadataBytes),
		Layers:           l.Layers,
		LayerBytes:       int64(l.LayerBytes),
		ScanBytes:        int64(l.ScanBytes),
		CompressionRatio: l.CompressionRatio,
	}
}

// IndexerLimits returns the bounds of the indexer (zero fields take its
// defaults).
func (l Limits) IndexerLimits() indexer.Limits {
	return indexer.Limits{
		Entries:   l.LayerEntries,
		FileBytes: int64(l.FileBytes),
		Packages:  l.Packages,

		SecretFileBytes: int64(l.SecretFileBytes),
	}
}

// SBOMLimits returns the bounds of the SBOM reader (zero fields take its
// defaults).
func (l Limits) SBOMLimits() sbom.Limits {
	return sbom.Limits{Bytes: int64(l.SBOMBytes), Components: l.SBOMComponents}
}
