package updater

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
)

// DefaultInterval is the interval of a source that sets none.
const DefaultInterval = 6 * time.Hour

// Source is one configured source of vulnerability data, as the YAML
// configuration file spells it:
//
//   - name: osv-pypi
//     type: osv
//     urls: [https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip]
//     interval: 6h
//   - name: alpine-local
//     type: alpine-secdb
//     path: /srv/mirror/alpine-secdb     # air-gapped: a file, directory or .zip
//     enabled: false
//
// A source has either URLs or a Path, never both.
type Source struct {
	// Name identifies the source: its update operations and runs are
	// stored under it. Letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Type is the registered parser type ("osv", "debian-tracker", …).
	Type string `yaml:"type"`
	// URLs are fetched with HTTP(S) and parsed together as one feed.
	URLs []string `yaml:"urls,omitempty"`
	// Path is a local file, directory or zip archive read instead of URLs.
	Path string `yaml:"path,omitempty"`
	// Interval is how often the source is updated, as a Go duration
	// ("6h", "90m"); zero means DefaultInterval.
	Interval time.Duration `yaml:"interval,omitempty"`
	// Enabled turns the source off when false; absent means on.
	Enabled *bool `yaml:"enabled,omitempty"`
	// MaxBytes caps each download of the source, in bytes; zero means
	// the fetcher's default (DefaultMaxBytes).
	MaxBytes limits.ByteSize `yaml:"max_bytes,omitempty"`
	// MaxFileBytes bounds the decompressed bytes read from one file of
	// the feed; zero means DefaultMaxFileBytes (see Limits).
	MaxFileBytes limits.ByteSize `yaml:"max_file_bytes,omitempty"`
	// MaxFeedBytes bounds the decompressed bytes read from the whole
	// feed; zero means DefaultMaxFeedBytes.
	MaxFeedBytes limits.ByteSize `yaml:"max_feed_bytes,omitempty"`
	// MaxFiles bounds the files of the feed (zip entries, files of a
	// directory); zero means DefaultMaxFiles.
	MaxFiles int `yaml:"max_files,omitempty"`
	// MaxDocumentBytes bounds a document a parser decodes whole; zero
	// means DefaultMaxDocumentBytes.
	MaxDocumentBytes limits.ByteSize `yaml:"max_document_bytes,omitempty"`
	// MaxYAMLBytes bounds a YAML document; zero means
	// DefaultMaxYAMLBytes.
	MaxYAMLBytes limits.ByteSize `yaml:"max_yaml_bytes,omitempty"`
	// MaxTokenBytes bounds one JSON string or number; zero means
	// DefaultMaxTokenBytes.
	MaxTokenBytes limits.ByteSize `yaml:"max_token_bytes,omitempty"`
	// MaxJSONDepth bounds the nesting of JSON arrays and objects; zero
	// means DefaultMaxJSONDepth.
	MaxJSONDepth int `yaml:"max_json_depth,omitempty"`
	// MaxRecords bounds the entries kept from the feed by the parsers
	// that read many from one file (kev, epss, cve5); zero means
	// DefaultMaxRecords.
	MaxRecords int `yaml:"max_records,omitempty"`
}

// Limits returns the bounds the source sets; its zero fields are the
// defaults (Limits.Or).
func (s Source) Limits() Limits {
	return Limits{
		FileBytes:     int64(s.MaxFileBytes),
		FeedBytes:     int64(s.MaxFeedBytes),
		Files:         s.MaxFiles,
		DocumentBytes: int64(s.MaxDocumentBytes),
		YAMLBytes:     int64(s.MaxYAMLBytes),
		TokenBytes:    int64(s.MaxTokenBytes),
		JSONDepth:     s.MaxJSONDepth,
		Records:       s.MaxRecords,
	}
}

// IsEnabled reports whether the source is on (Enabled absent or true).
func (s Source) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// EffectiveInterval returns Interval, or DefaultInterval when it is zero.
func (s Source) EffectiveInterval() time.Duration {
	if s.Interval <= 0 {
		return DefaultInterval
	}
	return s.Interval
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks the source's fields and returns an error saying which is
// wrong. A Type is checked against the registered parsers when any are
// registered (a program that registers none cannot know the names).
func (s Source) Validate() error {
	if s.Name == "" {
		return errors.New("source without a name")
	}
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("source %q: name must be letters, digits, '.', '_' or '-'", s.Name)
	}
	if s.Type == "" {
		return fmt.Errorf("source %q: no type (one of %s)", s.Name, strings.Join(Types(), ", "))
	}
	if types := Types(); len(types) > 0 {
		if _, err := Lookup(s.Type); err != nil {
			return fmt.Errorf("source %q: %w", s.Name, err)
		}
	}
	switch {
	case len(s.URLs) == 0 && s.Path == "":
		return fmt.Errorf("source %q: neither urls nor path given", s.Name)
	case len(s.URLs) > 0 && s.Path != "":
		return fmt.Errorf("source %q: both urls and path given; use one", s.Name)
	}
	seen := map[string]bool{}
	for i, raw := range s.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("source %q: urls[%d]: %w", s.Name, i, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("source %q: urls[%d] %q: scheme must be http or https (use path for local files)", s.Name, i, raw)
		}
		if u.Host == "" {
			return fmt.Errorf("source %q: urls[%d] %q: no host", s.Name, i, raw)
		}
		if seen[raw] {
			return fmt.Errorf("source %q: urls[%d] %q given twice", s.Name, i, raw)
		}
		seen[raw] = true
	}
	if s.Interval < 0 {
		return fmt.Errorf("source %q: negative interval %s", s.Name, s.Interval)
	}
	if s.Interval > 0 && s.Interval < time.Minute {
		return fmt.Errorf("source %q: interval %s is under a minute", s.Name, s.Interval)
	}
	for _, b := range []struct {
		key string
		v   int64
	}{
		{"max_bytes", int64(s.MaxBytes)}, {"max_file_bytes", int64(s.MaxFileBytes)}, {"max_feed_bytes", int64(s.MaxFeedBytes)},
		{"max_files", int64(s.MaxFiles)}, {"max_document_bytes", int64(s.MaxDocumentBytes)},
		{"max_yaml_bytes", int64(s.MaxYAMLBytes)}, {"max_token_bytes", int64(s.MaxTokenBytes)}, {"max_json_depth", int64(s.MaxJSONDepth)},
		{"max_records", int64(s.MaxRecords)},
	} {
		if b.v < 0 {
			return fmt.Errorf("source %q: negative %s %d", s.Name, b.key, b.v)
		}
	}
	return nil
}

// ValidateSources validates every source and checks that names are unique.
func ValidateSources(sources []Source) error {
	seen := map[string]bool{}
	for i, s := range sources {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("sources[%d]: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("sources[%d]: duplicate source name %q", i, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// osvBucket is where OSV.dev publishes one all.zip per ecosystem
// (gs://osv-vulnerabilities/<ECOSYSTEM>/all.zip over HTTPS).
const osvBucket = "https://osv-vulnerabilities.storage.googleapis.com/"

// cvelistV5Zip is the CVE List in CVE JSON 5, CVEProject's cvelistV5
// repository, as a zip of its main branch.
const cvelistV5Zip = "https://github.com/CVEProject/cvelistV5/archive/refs/heads/main.zip"

// alpineReleases are the Alpine releases whose secdb the defaults fetch:
// every release secdb.alpinelinux.org publishes data for that still
// appears in images in practice (3.10 on), newest last.
var alpineReleases = []string{
	"v3.10", "v3.11", "v3.12", "v3.13", "v3.14", "v3.15", "v3.16",
	"v3.17", "v3.18", "v3.19", "v3.20", "v3.21", "v3.22",
}

// DefaultSources returns the sources lapps ships with, each pointed at its
// real upstream location:
//
//   - the Debian security tracker JSON and the DSA and DLA lists (Debian's
//     own data, authoritative for Debian images);
//   - the Alpine secdb, main and community, of the releases in use;
//   - OSV.dev's per-ecosystem exports for Ubuntu, AlmaLinux, Rocky Linux,
//     Wolfi, Chainguard and the language ecosystems;
//   - the Go vulnerability database's own bulk export;
//   - enrichment of findings: CISA's Known Exploited Vulnerabilities
//     catalogue (kev), FIRST's daily EPSS scores (epss), and the CVE
//     records of CVEProject's cvelistV5 in CVE JSON 5 (cve5: severity and
//     CVSS of the CNA and of CISA's ADP "Vulnrichment").
//
// OSV.dev's Debian and Alpine exports (converted from the same upstream
// data as the native sources) and its Go export (which repeats
// vuln.go.dev) are listed but disabled: enabling them only adds duplicate
// records of the same advisories.
func DefaultSources() []Source {
	off := func() *bool { f := false; return &f }
	osv := func(name, eco string, enabled bool) Source {
		s := Source{
			Name:     name,
			Type:     "osv",
			URLs:     []string{osvBucket + (&url.URL{Path: eco}).EscapedPath() + "/all.zip"},
			Interval: DefaultInterval,
		}
		if !enabled {
			s.Enabled = off()
		}
		return s
	}
	var alpine []string
	for _, r := range alpineReleases {
		alpine = append(alpine,
			"https://secdb.alpinelinux.org/"+r+"/main.json",
			"https://secdb.alpinelinux.org/"+r+"/community.json")
	}
	const salsa = "https://salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/"
	return []Source{
		{Name: "debian-tracker", Type: "debian-tracker", URLs: []string{"https://security-tracker.debian.org/tracker/data/json"}, Interval: 2 * time.Hour},
		{Name: "debian-dsa", Type: "debian-dsa", URLs: []string{salsa + "DSA/list", salsa + "DLA/list"}, Interval: 6 * time.Hour},
		{Name: "alpine-secdb", Type: "alpine-secdb", URLs: alpine, Interval: 12 * time.Hour},
		{Name: "go-vulndb", Type: "osv", URLs: []string{"https://vuln.go.dev/vulndb.zip"}, Interval: DefaultInterval},
		osv("osv-ubuntu", "Ubuntu", true),
		osv("osv-almalinux", "AlmaLinux", true),
		osv("osv-rocky", "Rocky Linux", true),
		osv("osv-wolfi", "Wolfi", true),
		osv("osv-chainguard", "Chainguard", true),
		osv("osv-pypi", "PyPI", true),
		osv("osv-npm", "npm", true),
		osv("osv-maven", "Maven", true),
		osv("osv-rubygems", "RubyGems", true),
		osv("osv-packagist", "Packagist", true),
		osv("osv-crates", "crates.io", true),
		osv("osv-nuget", "NuGet", true),
		// CSAF (source type csaf): CIQ's Rocky Linux advisories and VEX
		// (github.com/ctrliq/advisories as GitHub's zip of the branch). Off
		// by default: its advisories are the RLSA ones osv-rocky carries
		// (merged with them by the RLSA id), and its VEX statements concern
		// CIQ's own LTS, FIPS and Bridge products only.
		{Name: "csaf-rocky", Type: "csaf", URLs: []string{"https://github.com/ctrliq/advisories/archive/refs/heads/main.zip"}, Interval: 12 * time.Hour, Enabled: off()},
		// Red Hat's CSAF VEX archive: a directory of the archive
		// csaf_vex_YYYY-MM-DD.tar.zst that archive_latest.txt names under
		// https://security.access.redhat.com/data/csaf/v2/vex/. Its file
		// name changes with every release, so it is read from a local
		// mirror (docs/config.md says how to keep one).
		{Name: "csaf-redhat", Type: "csaf", Path: "/var/lib/lapps/mirror/redhat-csaf-vex", Interval: 24 * time.Hour, Enabled: off()},
		osv("osv-debian", "Debian", false),
		osv("osv-alpine", "Alpine", false),
		osv("osv-go", "Go", false),
		{Name: "cisa-kev", Type: "kev", URLs: []string{"https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"}, Interval: 6 * time.Hour},
		{Name: "epss", Type: "epss", URLs: []string{"https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"}, Interval: 24 * time.Hour},
		// The cvelistV5 tree as one zip of its main branch (its daily
		// release assets are named by date; this URL is stable): about
		// 300,000 files, 2.5 GB decompressed.
		{Name: "cve5", Type: "cve5", URLs: []string{cvelistV5Zip}, Interval: 24 * time.Hour},
	}
}
