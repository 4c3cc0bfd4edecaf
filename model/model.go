// Package model holds the index model: what the indexer found in a layer
// (LayerIndex, its Entry values) and in an image (ImageIndex, LayerInfo).
// The indexer produces these, the stores keep them as JSON, the matcher,
// the notifier and the reports read them; none of those needs the
// indexer's walker or catalogers to do so.
//
// The types are not in vuln, the vulnerability and package model, because
// they hold the file checks' results (checks.LayerResult, checks.Finding,
// checks.Secret) and checks imports vuln: vuln holding them would be an
// import cycle. model sits above both, and below everything that reads an
// index.
//
// The JSON tags are the stored form: both store engines keep these
// structures encoded as they are, and read them back, so a tag changed
// here is a change of the stored data.
package model

import (
	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/vuln"
)

// Entry is what one cataloger found in one file of a layer.
type Entry struct {
	Path         string             `json:"path"`
	Cataloger    string             `json:"cataloger"`
	Packages     []vuln.Package     `json:"packages,omitempty"`
	Distribution *vuln.Distribution `json:"distribution,omitempty"`
	// OwnedBy names the operating-system package ("deb python3-requests")
	// that installed this file, for files of language packages.
	OwnedBy string `json:"owned_by,omitempty"`
	// Licenses are the file's indexer.Result.Licenses.
	Licenses map[string][]string `json:"licenses,omitempty"`
}

// LayerIndex is the index of one layer, stored under the layer's digest.
type LayerIndex struct {
	// Digest is the layer's digest as the manifest names it.
	Digest string `json:"digest"`
	// IndexerVersion is the indexer.Version that produced this index.
	IndexerVersion string `json:"indexer_version"`
	// Entries are the files the catalogers parsed, in tar order.
	Entries []Entry `json:"entries,omitempty"`
	// Whiteouts are the paths this layer deletes (".wh." files), and
	// Opaque the directories whose earlier contents it hides
	// (".wh..wh..opq"); both without a leading slash.
	Whiteouts []string `json:"whiteouts,omitempty"`
	Opaque    []string `json:"opaque,omitempty"`
	// Warnings are files that did not parse, as "path: cataloger: error".
	Warnings []string `json:"warnings,omitempty"`
	// OwnedLocks are the lock files (indexer.IsLockFile) that the package
	// managers' file lists of this layer name: shipped by an
	// operating-system package, they describe no installed application,
	// whichever layer writes them. A subset of the owned files, so bounded
	// by the same limits.
	OwnedLocks []string `json:"owned_locks,omitempty"`
	// Checks are the file checks' findings and the secrets of the layer
	// (checks/layer); nil when indexed with indexer.WithoutChecks.
	Checks *checks.LayerResult `json:"checks,omitempty"`
}

// LayerInfo describes one layer of an indexed image.
type LayerInfo struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size"`
}

// ImageIndex is the folded index of an image: what its final file system
// holds.
type ImageIndex struct {
	ManifestDigest string             `json:"manifest_digest"`
	IndexerVersion string             `json:"indexer_version"`
	Distribution   *vuln.Distribution `json:"distribution,omitempty"`
	Layers         []LayerInfo        `json:"layers"`
	Packages       []vuln.Package     `json:"packages"`
	// OSOwned are language packages found in files that an operating-system
	// package installed (Debian's python3-requests, say): they are
	// reported and matched as that package, and listed here with OwnedBy
	// set so that the report can say so.
	OSOwned  []vuln.Package `json:"os_owned,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	// ConfigFindings are the file checks' findings of the layers
	// (indexer.Fold) and, once the service adds them, those of the image
	// configuration (checks/config); Secrets the secrets of every layer,
	// deleted later or not.
	ConfigFindings []checks.Finding `json:"config_findings,omitempty"`
	Secrets        []checks.Secret  `json:"secrets,omitempty"`
}
