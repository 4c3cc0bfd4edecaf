// Package service is what lapps' commands call: one interface, implemented
// in-process here (on a local store) and over HTTP by package client. The
// commands never know which one they use.
package service

import (
	"context"
	"errors"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
)

// Service is the whole of what lapps does for its commands.
type Service interface {
	// ScanImage reads (or finds already indexed) an image, matches it
	// against the current vulnerability data and records a new numbered
	// scan.
	ScanImage(ctx context.Context, req ScanRequest) (*report.Report, error)
	// ListScans lists the scans of an image, oldest first.
	ListScans(ctx context.Context, imageRef string) ([]ScanSummary, error)
	// Report returns scan number index of an image as recorded at scan
	// time; index 0 means the latest scan, matched again against the
	// current vulnerability data without reading the image.
	Report(ctx context.Context, imageRef string, index int) (*report.Report, error)
	// ManifestReport matches the stored index of a manifest against the
	// current vulnerability data, without reading the image and without
	// recording a scan.
	ManifestReport(ctx context.Context, digest string) (*report.Report, error)
	// UpdateVulnDB runs the named sources (all configured ones when names
	// is empty) now.
	UpdateVulnDB(ctx context.Context, names []string) ([]SourceResult, error)
	// VulnDBStatus reports each configured source's last run and data.
	VulnDBStatus(ctx context.Context) ([]SourceStatus, error)
	// ImportVulnDB loads a file, directory or zip in a source type's own
	// format, for air-gapped use, as source name (default
	// ImportName(typ, path): import-TYPE-BASE). An import that would
	// replace data from elsewhere (a configured source, another path's
	// import, another type) is refused (ErrBadRequest) unless replace is
	// set; importing the same path again updates that import. The result
	// says what was replaced.
	ImportVulnDB(ctx context.Context, typ, path, name string, replace bool) (*SourceResult, error)
	// Close releases the service's resources.
	Close() error
}

// ScanRequest asks for a scan of one image.
type ScanRequest struct {
	// Image is a registry reference or a transport (oci:, oci-archive:,
	// docker-archive:, dir:).
	Image string
	// Platform is os/arch[/variant] for multi-platform images; empty means
	// the host's.
	Platform string
	// Insecure allows plain HTTP and unverified TLS for the registry.
	Insecure bool
	// Credentials are registry credentials by host, ahead of the docker
	// configuration.
	Credentials map[string]image.Credential
	// Key, when set, records the scan once however often the request is
	// run: the server's job id, so that a job run again after its replica
	// died does not number a second scan.
	Key string `json:"-"`
	// Progress, if set, is told about the work as it goes.
	Progress func(Progress) `json:"-"`
}

// Stages of a scan reported through Progress.
const (
	StageResolve = "resolve" // the manifest is being read
	StageVerify  = "verify"  // a layer that is not content-addressed is hashed
	StageCached  = "cached"  // a layer was indexed before; it is not read
	StageLayer   = "layer"   // a layer is being read and indexed
	StageDone    = "done"    // a layer has been indexed
	StageMatch   = "match"   // the index is being matched
)

// Progress is one step of a scan.
type Progress struct {
	Stage string
	// Layer is the layer's digest, Index its position (0 = base) and
	// Layers the number of layers.
	Layer         string
	Index, Layers int
	// Read and Total count the layer's bytes as stored (Total -1 when
	// unknown).
	Read, Total int64
	// Whole is set by a client that knows only a server job's totals
	// (no Layer): Read and Total are then the bytes of all the layers,
	// and LayersDone and LayersCached the layers indexed and cached.
	Whole                    bool
	LayersDone, LayersCached int
}

// ScanSummary is one line of `lapps image security list`.
type ScanSummary struct {
	Image           string         `json:"image"`
	Index           int            `json:"scan_index"`
	ScannedAt       time.Time      `json:"scanned_at"`
	ManifestDigest  string         `json:"manifest_digest"`
	Packages        int            `json:"packages"`
	Vulnerabilities map[string]int `json:"vulnerabilities"`
}

// SourceResult is the outcome of one run of a source.
type SourceResult struct {
	Source   string        `json:"source"`
	Type     string        `json:"type,omitempty"`
	Changed  bool          `json:"changed"`
	Records  int           `json:"records"`
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
	// Skipped counts the malformed entries of the feed that were skipped
	// (never widened to every version), SkippedBy by reason.
	Skipped   int            `json:"skipped,omitempty"`
	SkippedBy map[string]int `json:"skipped_by,omitempty"`
	// Replaced is what an import replaced: the data the source held
	// before, when the import changed it (nil for a new source, an
	// unchanged import, and updates).
	Replaced *Replaced `json:"replaced,omitempty"`
}

// Replaced is the data an import replaced.
type Replaced struct {
	// Origin is the path the replaced data was imported from; empty for
	// a configured source's feed, or data stored before lapps recorded
	// origins.
	Origin string `json:"origin,omitempty"`
	Type   string `json:"type,omitempty"`
	// Records is the number of records the source held.
	Records int `json:"records"`
	// SameImport is true when the data came from the same path and type:
	// the import updated itself rather than replaced another's data.
	SameImport bool `json:"same_import,omitempty"`
}

// SourceStatus is one line of `lapps vulndb status`.
type SourceStatus struct {
	Source     string `json:"source"`
	Type       string `json:"type,omitempty"`
	Configured bool   `json:"configured"`
	// Enabled is false for a configured source turned off (enabled:
	// false); imported sources are enabled.
	Enabled     bool      `json:"enabled"`
	LastRun     time.Time `json:"last_run,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Operation   int64     `json:"update_operation,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	Records     int       `json:"records"`
	// Origin is the path an import came from.
	Origin string `json:"origin,omitempty"`
	// Ecosystems counts the source's current records by ecosystem.
	Ecosystems map[string]int `json:"ecosystems,omitempty"`
	// NewestRecord is the latest modified or published time of the
	// source's records, DataAge its age now (report.Age: "412d",
	// "unknown" when the records carry no dates); both absent without
	// data.
	NewestRecord *time.Time `json:"newest_record,omitempty"`
	DataAge      string     `json:"data_age,omitempty"`
}

// ErrNotFound is returned (wrapped) for an image with no scans, or a scan
// index that does not exist.
var ErrNotFound = store.ErrNotFound

// ErrBadRequest is returned (wrapped) for requests that cannot be served
// as asked, such as an unknown source name.
var ErrBadRequest = errors.New("bad request")
