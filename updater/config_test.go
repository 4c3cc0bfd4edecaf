package updater_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/alpine"
	_ "github.com/lapps/lapps/updater/debian"
	"github.com/lapps/lapps/vuln"
)

func TestSourceValidate(t *testing.T) {
	no := false
	tests := []struct {
		name    string
		src     updater.Source
		wantErr string
	}{
		{"ok urls", updater.Source{Name: "osv-pypi", Type: "osv", URLs: []string{"https://example.org/PyPI/all.zip"}}, ""},
		{"ok path", updater.Source{Name: "local", Type: "osv", Path: "/srv/osv", Enabled: &no}, ""},
		{"no name", updater.Source{Type: "osv", Path: "/x"}, "without a name"},
		{"bad name", updater.Source{Name: "a b", Type: "osv", Path: "/x"}, "name must be"},
		{"no type", updater.Source{Name: "a", Path: "/x"}, "no type"},
		{"unknown type", updater.Source{Name: "a", Type: "nvd", Path: "/x"}, `unknown source type "nvd"`},
		{"neither", updater.Source{Name: "a", Type: "osv"}, "neither urls nor path"},
		{"both", updater.Source{Name: "a", Type: "osv", Path: "/x", URLs: []string{"https://e.org/x"}}, "both urls and path"},
		{"file url", updater.Source{Name: "a", Type: "osv", URLs: []string{"file:///x"}}, "scheme must be http or https"},
		{"no host", updater.Source{Name: "a", Type: "osv", URLs: []string{"https:///x"}}, "no host"},
		{"bad url", updater.Source{Name: "a", Type: "osv", URLs: []string{"https://e.org/%zz"}}, "urls[0]"},
		{"duplicate url", updater.Source{Name: "a", Type: "osv", URLs: []string{"https://e.org/x", "https://e.org/x"}}, "given twice"},
		{"negative interval", updater.Source{Name: "a", Type: "osv", Path: "/x", Interval: -time.Hour}, "negative interval"},
		{"tiny interval", updater.Source{Name: "a", Type: "osv", Path: "/x", Interval: time.Second}, "under a minute"},
		{"negative cap", updater.Source{Name: "a", Type: "osv", Path: "/x", MaxBytes: -1}, "negative max_bytes"},
		{"negative max_records", updater.Source{Name: "a", Type: "kev", Path: "/x", MaxRecords: -1}, "negative max_records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.src.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if err := updater.ValidateSources([]updater.Source{tests[0].src, tests[0].src}); err == nil || !strings.Contains(err.Error(), "duplicate source name") {
		t.Errorf("duplicate names: %v", err)
	}
}

func TestSourceYAML(t *testing.T) {
	doc := `
- name: osv-pypi
  type: osv
  urls: [https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip]
  interval: 6h
- name: offline
  type: osv
  path: /srv/mirror/osv
  interval: 90m
  enabled: false
  max_bytes: 1048576
  max_file_bytes: 64MiB
  max_document_bytes: 2 MB
`
	var got []updater.Source
	if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if err := updater.ValidateSources(got); err != nil {
		t.Fatal(err)
	}
	if got[0].Interval != 6*time.Hour || !got[0].IsEnabled() || got[1].Interval != 90*time.Minute || got[1].IsEnabled() || got[1].MaxBytes != 1<<20 ||
		got[1].MaxFileBytes != 64<<20 || got[1].MaxDocumentBytes != 2e6 || got[1].Limits().FileBytes != 64<<20 {
		t.Errorf("decoded %+v", got)
	}
	var bad []updater.Source
	if err := yaml.Unmarshal([]byte("- name: x\n  interval: often\n"), &bad); err == nil {
		t.Error(`interval "often" decoded without error`)
	}
}

// TestDefaultSources: every default validates, points at the real
// upstream hosts over HTTPS, and covers the ecosystems the issue names.
func TestDefaultSources(t *testing.T) {
	srcs := updater.DefaultSources()
	if err := updater.ValidateSources(srcs); err != nil {
		t.Fatal(err)
	}
	byName := map[string]updater.Source{}
	hosts := map[string]bool{}
	for _, s := range srcs {
		byName[s.Name] = s
		for _, raw := range s.URLs {
			u, _ := url.Parse(raw)
			if u.Scheme != "https" {
				t.Errorf("%s: %s is not https", s.Name, raw)
			}
			hosts[u.Host] = true
		}
	}
	for _, h := range []string{"osv-vulnerabilities.storage.googleapis.com", "security-tracker.debian.org", "salsa.debian.org", "secdb.alpinelinux.org", "vuln.go.dev"} {
		if !hosts[h] {
			t.Errorf("no default source at %s", h)
		}
	}
	for _, typ := range []string{"debian-tracker", "debian-dsa", "alpine-secdb", "epss", "cve5"} {
		if s, ok := byName[typ]; !ok || s.Type != typ || !s.IsEnabled() {
			t.Errorf("default source %s: %+v", typ, s)
		}
	}
	// The enrichment sources (issue 13).
	for name, u := range map[string]string{
		"cisa-kev": "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
		"epss":     "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
		"cve5":     "https://github.com/CVEProject/cvelistV5/archive/refs/heads/main.zip",
	} {
		if s := byName[name]; len(s.URLs) != 1 || s.URLs[0] != u || !s.IsEnabled() {
			t.Errorf("default source %s: %+v", name, s)
		}
	}
	if s := byName["osv-rocky"]; len(s.URLs) != 1 || s.URLs[0] != "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip" {
		t.Errorf("rocky: %v", s.URLs)
	}
	for _, eco := range []string{"Ubuntu", "AlmaLinux", "Wolfi", "Chainguard", vuln.EcosystemPyPI, vuln.EcosystemNPM, vuln.EcosystemMaven,
		vuln.EcosystemRubyGems, vuln.EcosystemPackagist, vuln.EcosystemCrates, vuln.EcosystemNuGet, "Debian", "Alpine", "Go"} {
		found := false
		for _, s := range srcs {
			for _, u := range s.URLs {
				found = found || strings.HasSuffix(u, "/"+eco+"/all.zip")
			}
		}
		if !found {
			t.Errorf("no OSV export of %s among the defaults", eco)
		}
	}
	alpine := byName["alpine-secdb"].URLs
	if len(alpine) < 2 || !strings.HasSuffix(alpine[0], "/main.json") || !strings.HasSuffix(alpine[1], "/community.json") {
		t.Errorf("alpine urls %v", alpine)
	}
}

// TestUnknownTypeInWords: the known source types are listed as words
// (a, b, c), not as a Go slice ([a b c]).
func TestUnknownTypeInWords(t *testing.T) {
	_, err := updater.Lookup("nope")
	if err == nil || strings.Contains(err.Error(), "[") || !strings.Contains(err.Error(), "unknown source type \"nope\" (known: ") {
		t.Errorf("Lookup(nope): %v", err)
	}
	err = updater.Source{Name: "x"}.Validate()
	if err == nil || strings.Contains(err.Error(), "[") {
		t.Errorf("source without a type: %v", err)
	}
}
