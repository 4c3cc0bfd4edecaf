package updater

import (
	"io/fs"

	"github.com/lapps/lapps/limits"
)

// Defaults of the bounds on what a feed may make lapps read (Limits). They
// are chosen from the real feeds: the largest file a parser reads is the
// Debian security tracker's JSON export (about 60 MB, read as a stream);
// the largest document decoded whole is an OSV record of a few hundred
// kilobytes (AlmaLinux: 134 kB in the shared data; a Wolfi or Chainguard
// secdb document: a few MB); the largest YAML document is an Alpine secdb
// release (50 kB); the longest JSON string a description of a few
// kilobytes; the deepest JSON nesting about 8 levels; the largest feed an
// OSV.dev export (npm: some hundreds of thousands of records, about 1 GB
// decompressed). Every default leaves a wide margin above those while
// keeping the memory a hostile feed can make a parse take to a few
// hundred MiB.
const (
	// DefaultMaxFileBytes bounds the decompressed bytes of one file.
	DefaultMaxFileBytes int64 = 256 << 20
	// DefaultMaxFeedBytes bounds the decompressed bytes of a whole feed
	// (a zip bomb of many entries).
	DefaultMaxFeedBytes int64 = 8 << 30
	// DefaultMaxFiles bounds the files of a feed: the entries of a zip
	// archive, the files of a local directory.
	DefaultMaxFiles = 1_000_000
	// DefaultMaxDocumentBytes bounds a document a parser decodes whole: an
	// OSV record file, one package of a secdb document, one issue of the
	// Debian tracker export, a RustSec advisory, an Ubuntu tracker file.
	DefaultMaxDocumentBytes int64 = 16 << 20
	// DefaultMaxYAMLBytes bounds a YAML document. A YAML decoder builds a
	// node tree of about 100 bytes of memory per byte of input (measured
	// with gopkg.in/yaml.v3 on a flow sequence), hence a bound of its own.
	DefaultMaxYAMLBytes int64 = 1 << 20
	// DefaultMaxTokenBytes bounds one JSON string or number.
	DefaultMaxTokenBytes int64 = 16 << 20
	// DefaultMaxJSONDepth bounds the nesting of JSON arrays and objects.
	DefaultMaxJSONDepth = 64
	// DefaultMaxRecords bounds the entries a parser of a one-file feed
	// keeps (the rows of the EPSS CSV, about 300,000; the entries of the
	// CISA KEV catalogue, about 1,400; the CVE JSON 5 records of
	// cvelistV5, about 300,000): a record takes about 500 bytes of
	// memory, far more than its line of CSV, so bytes alone do not bound
	// the memory a parse takes.
	DefaultMaxRecords = 2_000_000
)

// Configuration keys of the bounds, as a *limits.Error names them: the
// fields of a source in the configuration file (vulndb.sources[]).
const (
	KeyMaxBytes         = "vulndb.sources[].max_bytes"
	KeyMaxFileBytes     = "vulndb.sources[].max_file_bytes"
	KeyMaxFeedBytes     = "vulndb.sources[].max_feed_bytes"
	KeyMaxFiles         = "vulndb.sources[].max_files"
	KeyMaxDocumentBytes = "vulndb.sources[].max_document_bytes"
	KeyMaxYAMLBytes     = "vulndb.sources[].max_yaml_bytes"
	KeyMaxTokenBytes    = "vulndb.sources[].max_token_bytes"
	KeyMaxJSONDepth     = "vulndb.sources[].max_json_depth"
	KeyMaxRecords       = "vulndb.sources[].max_records"
)

// zipDirectoryBytesPerFile is the central directory a zip archive may
// have per file allowed by MaxFiles. archive/zip holds the whole directory
// in memory; real OSV exports take under 100 bytes per entry (a 46-byte
// header, a name of about 25 bytes, a timestamp field).
const zipDirectoryBytesPerFile = 128

// Limits bound what the parsers of one feed can make lapps read. A zero
// field means its default; every bound crossed is a *limits.Error naming
// the bound and its configuration key, and fails the run without storing
// anything.
type Limits struct {
	// FileBytes bounds the decompressed bytes read from one file of the
	// feed (DefaultMaxFileBytes).
	FileBytes int64
	// FeedBytes bounds the decompressed bytes read from the whole feed
	// (DefaultMaxFeedBytes).
	FeedBytes int64
	// Files bounds the files of the feed: entries of a zip archive (and
	// its central directory, at 128 bytes per file), regular files of a
	// local directory (DefaultMaxFiles).
	Files int
	// DocumentBytes bounds a document decoded whole
	// (DefaultMaxDocumentBytes).
	DocumentBytes int64
	// YAMLBytes bounds a YAML document (DefaultMaxYAMLBytes).
	YAMLBytes int64
	// TokenBytes bounds one JSON string or number (DefaultMaxTokenBytes).
	TokenBytes int64
	// JSONDepth bounds the nesting of JSON arrays and objects
	// (DefaultMaxJSONDepth).
	JSONDepth int
	// Records bounds the entries a parser that reads many entries from
	// one file (kev, epss, cve5) keeps (DefaultMaxRecords).
	Records int
}

// DefaultLimits returns the default bounds.
func DefaultLimits() Limits {
	return Limits{
		FileBytes:     DefaultMaxFileBytes,
		FeedBytes:     DefaultMaxFeedBytes,
		Files:         DefaultMaxFiles,
		DocumentBytes: DefaultMaxDocumentBytes,
		YAMLBytes:     DefaultMaxYAMLBytes,
		TokenBytes:    DefaultMaxTokenBytes,
		JSONDepth:     DefaultMaxJSONDepth,
		Records:       DefaultMaxRecords,
	}
}

// Or returns l with its zero fields taken from d.
func (l Limits) Or(d Limits) Limits {
	or := func(a, b int64) int64 {
		if a > 0 {
			return a
		}
		return b
	}
	l.FileBytes = or(l.FileBytes, d.FileBytes)
	l.FeedBytes = or(l.FeedBytes, d.FeedBytes)
	l.Files = int(or(int64(l.Files), int64(d.Files)))
	l.DocumentBytes = or(l.DocumentBytes, d.DocumentBytes)
	l.YAMLBytes = or(l.YAMLBytes, d.YAMLBytes)
	l.TokenBytes = or(l.TokenBytes, d.TokenBytes)
	l.JSONDepth = int(or(int64(l.JSONDepth), int64(d.JSONDepth)))
	l.Records = int(or(int64(l.Records), int64(d.Records)))
	return l
}

// LimitsOf returns the bounds a feed file system carries: those of its
// source for the file system Fetch returns, DefaultLimits for any other
// (a testing/fstest.MapFS in a test, say). Parsers read their documents,
// tokens and YAML within them.
func LimitsOf(feed fs.FS) Limits {
	if g, ok := feed.(interface{ Limits() Limits }); ok {
		return g.Limits().Or(DefaultLimits())
	}
	return DefaultLimits()
}

// DocumentError is the *limits.Error of a document of a feed that is
// larger than l.DocumentBytes.
func (l Limits) DocumentError(name string) *limits.Error {
	return limits.New(named("document", name), l.DocumentBytes, "bytes", KeyMaxDocumentBytes)
}

// named is "what name of the feed", or "a what of the feed" without a
// name.
func named(what, name string) string {
	if name == "" {
		return "a " + what + " of the feed"
	}
	return what + " " + name + " of the feed"
}

// YAMLError is the *limits.Error of a YAML document of a feed that is
// larger than l.YAMLBytes.
func (l Limits) YAMLError(name string) *limits.Error {
	return limits.New(named("YAML document", name), l.YAMLBytes, "bytes", KeyMaxYAMLBytes)
}

// RecordsError is the *limits.Error of a feed whose entries (what: "rows
// of the EPSS CSV") are more than l.Records.
func (l Limits) RecordsError(what string) *limits.Error {
	return limits.New(what, int64(l.Records), "records", KeyMaxRecords)
}
