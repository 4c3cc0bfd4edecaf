package harbor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/vuln"
)

const digest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func scanBody(url, auth, repo, dig, mime string) string {
	b, _ := json.Marshal(ScanRequest{Registry: Registry{URL: url, Authorization: auth}, Artifact: Artifact{Repository: repo, Digest: dig, MimeType: mime}})
	return string(b)
}

// TestParseScanRequest: the image and credentials a request yields, and
// the requests refused (400 for what does not decode, 422 for invalid
// fields), whose messages never hold the secret.
func TestParseScanRequest(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	for _, c := range []struct {
		name, body string
		image      string
		cred       *image.Credential
		status     int
	}{
		{"basic over https", scanBody("https://core.harbor.domain", basic("robot$scan", secret), "library/mongo", digest, MimeDockerManifest),
			"core.harbor.domain/library/mongo@" + digest, &image.Credential{Username: "robot$scan", Password: secret}, 0},
		{"bearer over http with a port", scanBody("http://harbor-core:8080", "Bearer "+secret, "lib/a", digest, MimeOCIManifest),
			"harbor-core:8080/lib/a@" + digest, &image.Credential{Token: secret}, 0},
		{"anonymous, trailing slash", scanBody("http://127.0.0.1:5000/", "", "lib/a", digest, ""), "127.0.0.1:5000/lib/a@" + digest, nil, 0},
		{"a tag without digest", `{"registry":{"url":"https://r.example"},"artifact":{"repository":"a/b","tag":"1.0"}}`, "r.example/a/b:1.0", nil, 0},
		{"with capabilities", `{"registry":{"url":"https://r.example"},"artifact":{"repository":"a","digest":"` + digest + `"},"enabled_capabilities":[{"type":"vulnerability"},{"type":"sbom","produces_mime_types":["` + MimeSBOMReport + `"],"parameters":{"sbom_media_types":["application/spdx+json","application/vnd.cyclonedx+json"]}}]}`,
			"r.example/a@" + digest, nil, 0},
		{"not JSON", `{"registry":`, "", nil, 400},
		{"wrong type", `{"registry":{"url":5}}`, "", nil, 400},
		{"body too large", `{"registry":{"url":"https://r.example","authorization":"` + strings.Repeat("a", maxRequest) + `"}}`, "", nil, 400},
		{"no url", scanBody("", basic("u", secret), "a", digest, ""), "", nil, 422},
		{"not http", scanBody("ftp://r.example", basic("u", secret), "a", digest, ""), "", nil, 422},
		{"credentials in the url", scanBody("https://u:"+secret+"@r.example", "", "a", digest, ""), "", nil, 422},
		{"a path in the url", scanBody("https://r.example/v2", "", "a", digest, ""), "", nil, 422},
		{"no repository", scanBody("https://r.example", basic("u", secret), "", digest, ""), "", nil, 422},
		{"a repository that is not one", scanBody("https://r.example", basic("u", secret), "A/../b", digest, ""), "", nil, 422},
		{"a bad digest", scanBody("https://r.example", basic("u", secret), "a", "sha256:zz", ""), "", nil, 422},
		{"no digest nor tag", scanBody("https://r.example", basic("u", secret), "a", "", ""), "", nil, 422},
		{"a helm chart", scanBody("https://r.example", basic("u", secret), "a", digest, "application/vnd.cncf.helm.config.v1+json"), "", nil, 422},
		{"an unknown capability", `{"registry":{"url":"https://r.example"},"artifact":{"repository":"a","digest":"` + digest + `"},"enabled_capabilities":[{"type":"malware"}]}`, "", nil, 422},
		{"an unknown sbom type", `{"registry":{"url":"https://r.example"},"artifact":{"repository":"a","digest":"` + digest + `"},"enabled_capabilities":[{"type":"sbom","parameters":{"sbom_media_types":["text/plain"]}}]}`, "", nil, 422},
		{"digest auth", scanBody("https://r.example", "Digest "+secret, "a", digest, ""), "", nil, 422},
		{"basic not base64", scanBody("https://r.example", "Basic "+secret+"!", "a", digest, ""), "", nil, 422},
		{"basic without colon", scanBody("https://r.example", "Basic "+base64.StdEncoding.EncodeToString([]byte(secret)), "a", digest, ""), "", nil, 422},
		{"empty bearer", scanBody("https://r.example", "Bearer ", "a", digest, ""), "", nil, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, err := ParseScanRequest(strings.NewReader(c.body))
			if c.status != 0 {
				re, ok := err.(*requestError)
				if !ok || re.status != c.status {
					t.Fatalf("error %v (%T), want status %d", err, err, c.status)
				}
				if strings.Contains(re.msg, secret) {
					t.Errorf("the message holds the secret: %s", re.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sc.Image != c.image {
				t.Errorf("image %q, want %q", sc.Image, c.image)
			}
			host, _, _ := strings.Cut(c.image, "/")
			switch {
			case c.cred == nil && len(sc.Credentials) != 0:
				t.Errorf("credentials %v, want none", sc.Credentials)
			case c.cred != nil && (len(sc.Credentials) != 1 || sc.Credentials[host] != *c.cred):
				t.Errorf("credentials %v, want %s: %v", sc.Credentials, host, *c.cred)
			}
			var art Artifact
			if err := json.Unmarshal(sc.Meta, &art); err != nil || art.Repository == "" {
				t.Errorf("meta %s: %v", sc.Meta, err)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	for _, c := range []struct {
		accept, want string
	}{
		{"", MimeHarborVulnReport},
		{"*/*", MimeHarborVulnReport},
		{MimeHarborVulnReport, MimeHarborVulnReport},
		{"application/vnd.security.vulnerability.report; version=1.1", MimeVulnReport},
		{"application/vnd.security.vulnerability.report;version=1.1", MimeVulnReport},
		{MimeSBOMReport, MimeSBOMReport},
		{MimeRawReport, MimeRawReport},
		{"text/html, " + MimeVulnReport, MimeVulnReport},
		{"application/vnd.security.vulnerability.report; version=9", ""},
		{"text/html", ""},
		{";;", ""},
	} {
		got, ok := accepted(c.accept)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("accepted(%q) = %q, %v; want %q", c.accept, got, ok, c.want)
		}
	}
}

// fakeBackend keeps scans in memory: each is queued, then running, then
// done as its test says.
type fakeBackend struct {
	mu     sync.Mutex
	scans  map[string]*Status
	queued []Scan
	rep    *report.Report
}

func (b *fakeBackend) Enqueue(_ context.Context, sc Scan) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := fmt.Sprintf("job-%d", len(b.queued)+1)
	b.queued = append(b.queued, sc)
	b.scans[id] = &Status{State: StateQueued, Meta: sc.Meta}
	return id, nil
}

func (b *fakeBackend) Status(_ context.Context, id string) (*Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.scans[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *st
	return &c, nil
}

func (b *fakeBackend) VulnDBStatus(context.Context) ([]service.SourceStatus, error) {
	return []service.SourceStatus{
		{Source: "a", UpdatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{Source: "b", UpdatedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{Source: "never"},
	}, nil
}

func (b *fakeBackend) set(id string, st Status) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st.Meta = b.scans[id].Meta
	b.scans[id] = &st
}

// testReport has findings of every severity and every CVSS version.
func testReport() *report.Report {
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	r := &report.Report{Image: "core.harbor.domain/library/mongo@" + digest, ScanIndex: 1, ScannedAt: at, GeneratedAt: at,
		Packages: []vuln.Package{{Name: "openssl", Version: "3.0.11-1"}, {Name: "zlib", Version: "1.2.13"}},
		Vulnerabilities: []vuln.Finding{
			{ID: "CVE-2024-0001", Package: "openssl", InstalledVersion: "3.0.11-1", FixedVersion: "3.0.13-1", Severity: vuln.SeverityCritical,
				SeveritySource: "nvd", Title: "a world-burning bug", Links: []string{"https://security-tracker.debian.org/tracker/CVE-2024-0001"},
				CVSS: []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 9.8}, {Version: "2.0", Vector: "AV:N/AC:L/Au:N/C:C/I:C/A:C", Score: 10}}},
			{ID: "CVE-2024-0002", Package: "openssl", InstalledVersion: "3.0.11-1", Severity: vuln.SeverityNegligible,
				CVSS: []vuln.CVSS{{Version: "4.0", Vector: "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", Score: 2}}},
			{ID: "GHSA-xxxx", Package: "zlib", InstalledVersion: "1.2.13", Severity: vuln.SeverityUnknown},
			{ID: "CVE-2024-0003", Package: "zlib", InstalledVersion: "1.2.13", Severity: vuln.SeverityMedium, SeveritySource: "debian",
				CVSS: []vuln.CVSS{{Version: "3.0", Vector: "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", Score: 5.5}}},
		}}
	r.Summarize()
	return r
}

func do(t *testing.T, h http.HandlerFunc, method, target, accept, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h(w, req)
	return w
}

// TestAdapter: metadata, a scan through its states, each report type,
// and the errors; every body validated against the spec's schemas.
func TestAdapter(t *testing.T) {
	spec := loadSpec(t)
	b := &fakeBackend{scans: map[string]*Status{}}
	a := New(b, WithVersion("1.2.3"), WithRefreshAfter(1500*time.Millisecond))
	reportOf := func(id string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { a.Report(w, r, id) }
	}

	w := do(t, a.Metadata, "GET", "/api/v1/metadata", "", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != MimeMetadata {
		t.Fatalf("metadata: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	md := spec.validate(t, "ScannerAdapterMetadata", w.Body.Bytes())
	props := md["properties"].(map[string]any)
	if props[PropScannerType] != "os-package-vulnerability" || props[PropDBUpdatedAt] != "2026-12-01T10:00:00Z" {
		t.Errorf("properties %v", props)
	}
	if s := md["scanner"].(map[string]any); s["name"] != "lapps" || s["version"] != "1.2.3" {
		t.Errorf("scanner %v", s)
	}
	caps := md["capabilities"].([]any)
	vulnCap := caps[0].(map[string]any)
	if vulnCap["type"] != "vulnerability" || fmt.Sprint(vulnCap["consumes_mime_types"]) != fmt.Sprint([]any{MimeOCIManifest, MimeDockerManifest}) ||
		!strings.Contains(fmt.Sprint(vulnCap["produces_mime_types"]), MimeVulnReport) || !strings.Contains(fmt.Sprint(vulnCap["produces_mime_types"]), MimeHarborVulnReport) {
		t.Errorf("vulnerability capability %v", vulnCap)
	}
	// The sbom capability lists the SBOM types whose formats are linked
	// in: none in this test binary unless another package registered one.
	if want := sbomMediaTypes(); len(want) == 0 && len(caps) != 1 || len(want) > 0 && (len(caps) != 2 || !strings.Contains(fmt.Sprint(caps[1]), want[0])) {
		t.Errorf("capabilities %v with SBOM types %v", caps, want)
	}

	const secret = "harbor-robot-secret"
	w = do(t, a.AcceptScan, "POST", "/api/v1/scan", "", scanBody("https://core.harbor.domain", basic("robot$x", secret), "library/mongo", digest, MimeDockerManifest))
	if w.Code != 202 || w.Header().Get("Content-Type") != MimeScanResponse {
		t.Fatalf("scan: %d %s", w.Code, w.Body)
	}
	id := spec.validate(t, "ScanResponse", w.Body.Bytes())["id"].(string)
	if len(b.queued) != 1 || b.queued[0].Credentials["core.harbor.domain"].Password != secret {
		t.Fatalf("queued %+v", b.queued)
	}

	// Queued, then running: 302 with Refresh-After, whatever the type.
	for _, state := range []string{StateQueued, StateRunning} {
		b.set(id, Status{State: state})
		w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report", MimeVulnReport, "")
		if w.Code != 302 || w.Header().Get("Refresh-After") != "2" {
			t.Errorf("%s: %d, Refresh-After %q; want 302, 2", state, w.Code, w.Header().Get("Refresh-After"))
		}
	}

	b.set(id, Status{State: StateSucceeded, Report: testReport()})
	for _, mt := range []string{MimeHarborVulnReport, MimeVulnReport} {
		w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report", mt, "")
		if w.Code != 200 || w.Header().Get("Content-Type") != mt {
			t.Fatalf("%s: %d %s", mt, w.Code, w.Body)
		}
		rep := spec.validate(t, "HarborVulnerabilityReport", w.Body.Bytes())
		if rep["severity"] != "Critical" || rep["artifact"].(map[string]any)["digest"] != digest {
			t.Errorf("severity %v, artifact %v", rep["severity"], rep["artifact"])
		}
		var got VulnerabilityReport
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := testReport()
		if len(got.Vulnerabilities) != len(want.Vulnerabilities) {
			t.Fatalf("%d vulnerabilities, want %d", len(got.Vulnerabilities), len(want.Vulnerabilities))
		}
		sev := map[string]string{}
		for i, v := range got.Vulnerabilities {
			f := want.Vulnerabilities[i]
			if v.ID != f.ID || v.Package != f.Package || v.Version != f.InstalledVersion || v.FixVersion != f.FixedVersion {
				t.Errorf("item %d %+v, want of %+v", i, v, f)
			}
			sev[v.ID] = v.Severity
		}
		if fmt.Sprint(sev) != "map[CVE-2024-0001:Critical CVE-2024-0002:Negligible CVE-2024-0003:Medium GHSA-xxxx:Unknown]" {
			t.Errorf("severities %v", sev)
		}
		first := got.Vulnerabilities[0]
		if first.PreferredCVSS == nil || *first.PreferredCVSS.ScoreV3 != 9.8 || *first.PreferredCVSS.ScoreV2 != 10 || first.PreferredCVSS.VectorV2 != "AV:N/AC:L/Au:N/C:C/I:C/A:C" {
			t.Errorf("preferred_cvss %+v", first.PreferredCVSS)
		}
		nvd := first.VendorAttributes["CVSS"].(map[string]any)["nvd"].(map[string]any)
		if nvd["V3Score"] != 9.8 || nvd["V3Vector"] != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" {
			t.Errorf("vendor_attributes %v", first.VendorAttributes)
		}
		if got.Vulnerabilities[1].PreferredCVSS != nil || got.Vulnerabilities[2].VendorAttributes != nil {
			t.Errorf("CVSS v4 only or none: %+v %+v", got.Vulnerabilities[1], got.Vulnerabilities[2])
		}
	}
	w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report", MimeRawReport, "")
	var raw report.Report
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &raw) != nil || len(raw.Vulnerabilities) != 4 {
		t.Errorf("raw: %d %s", w.Code, w.Body)
	}

	// SBOMs: 400 without a known sbom_media_type; the formats come from
	// the registry of output formats.
	for _, q := range []string{"", "?sbom_media_type=text/plain"} {
		w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report"+q, MimeSBOMReport, "")
		if w.Code != 400 {
			t.Errorf("sbom %q: %d %s", q, w.Code, w.Body)
		}
		spec.validate(t, "ErrorResponse", w.Body.Bytes())
	}
	for _, f := range sbomFormats {
		q := "?sbom_media_type=" + url.QueryEscape(f.mediaType)
		if f.format == "cyclonedx" {
			q = "?sbom_media_type=" + f.mediaType // "+" unescaped, as some clients send it
		}
		if _, ok := report.LookupFormat(f.format); !ok {
			w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report"+q, MimeSBOMReport, "")
			if w.Code != 501 || !strings.Contains(w.Body.String(), "no "+f.format+" output format") {
				t.Errorf("sbom %s unregistered: %d %s", f.format, w.Code, w.Body)
			}
			if f.format != "cyclonedx" {
				continue
			}
			// A stand-in, registered for this test binary only: the real
			// format lives in report/cyclonedx.
			report.Register(report.Format{Name: f.format, MediaType: f.mediaType, Write: func(w io.Writer, r *report.Report) error {
				return json.NewEncoder(w).Encode(map[string]any{"bomFormat": "CycloneDX", "components": len(r.Packages)})
			}})
		}
		w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report"+q, MimeSBOMReport, "")
		if w.Code != 200 || w.Header().Get("Content-Type") != MimeSBOMReport {
			t.Fatalf("sbom %s: %d %s", f.mediaType, w.Code, w.Body)
		}
		doc := spec.validate(t, "HarborSbomReport", w.Body.Bytes())
		if doc["media_type"] != f.mediaType {
			t.Errorf("media_type %v", doc["media_type"])
		}
		if _, ok := doc["sbom"].(map[string]any); !ok {
			t.Errorf("sbom %v", doc["sbom"])
		}
	}

	// A failed scan: 500 with the reason.
	b.set(id, Status{State: StateFailed, Code: "registry_denied", Message: "core.harbor.domain/library/mongo: authentication required"})
	w = do(t, reportOf(id), "GET", "/api/v1/scan/"+id+"/report", MimeVulnReport, "")
	if w.Code != 500 || !strings.Contains(w.Body.String(), "registry_denied: core.harbor.domain/library/mongo: authentication required") {
		t.Errorf("failed: %d %s", w.Code, w.Body)
	}
	spec.validate(t, "ErrorResponse", w.Body.Bytes())

	// Unknown ids, unknown types, bad requests.
	for _, c := range []struct {
		h            http.HandlerFunc
		method, body string
		accept       string
		status       int
	}{
		{reportOf("nope"), "GET", "", MimeVulnReport, 404},
		{reportOf(id), "GET", "", "text/html", 501},
		{a.AcceptScan, "POST", "{", "", 400},
		{a.AcceptScan, "POST", scanBody("https://r.example", "Basic !!", "a", digest, ""), "", 422},
	} {
		w = do(t, c.h, c.method, "/", c.accept, c.body)
		if w.Code != c.status || w.Header().Get("Content-Type") != MimeError {
			t.Errorf("%s %q %q: %d %s, want %d", c.method, c.body, c.accept, w.Code, w.Body, c.status)
		}
		spec.validate(t, "ErrorResponse", w.Body.Bytes())
	}
	if len(b.queued) != 1 {
		t.Errorf("%d scans queued, want 1", len(b.queued))
	}
}

// FuzzParseScanRequest: any body is parsed or refused with a request
// error, without panicking; an accepted one names a parseable reference.
func FuzzParseScanRequest(f *testing.F) {
	f.Add(scanBody("https://core.harbor.domain", basic("u", "p"), "library/mongo", digest, MimeDockerManifest))
	f.Add(`{"registry":{"url":"http://h:1"},"artifact":{"repository":"a","tag":"t"},"enabled_capabilities":[{"type":"sbom","parameters":{"sbom_media_types":["application/spdx+json"]}}]}`)
	f.Add(`{"registry":{"url":"https://h","authorization":"Bearer x"},"artifact":{"repository":"a/b/c","digest":"sha512:00"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		sc, err := ParseScanRequest(bytes.NewReader([]byte(body)))
		if err != nil {
			if _, ok := err.(*requestError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if _, err := image.NormalizeName(sc.Image); err != nil {
			t.Fatalf("accepted %q: %v", sc.Image, err)
		}
	})
}
