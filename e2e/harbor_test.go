package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/testenv"
)

// TestHarborAdapter plays Harbor's part against lapps serve and a real
// registry that requires a password (htpasswd): it reads the metadata,
// asks for a scan with the Basic authorization Harbor sends, polls the
// report (302 with Refresh-After while the pull is held, then 200), and
// checks its vulnerabilities against the JSON report of the same image
// scanned by the command line on its own database (the Alpine v3.11
// secdb with the data set's invented musl advisory); a wrong password
// yields a failed scan whose report is the registry's refusal; neither
// password reaches the server's log.
func TestHarborAdapter(t *testing.T) {
	spec := harborSpec(t)
	e := newEnv(t, options{})
	// The real Alpine v3.11 secdb has no fix newer than alpine 3.11.13's
	// packages: the data set's invented musl advisory gives the image
	// findings (musl and musl-utils) to compare.
	writeSecdb(t, e.data, true)
	e.update()
	const user, password, wrong = "harbor-robot", "e2e-registry-pw-7f3a", "not-the-pw-91c2"
	reg := startAuthRegistry(t, user, password)
	src := "oci:" + alpine(t) + ":alpine-3.11.13"
	pushWithCreds(t, src, reg, "harbor/alpine:3.11", user+":"+password)
	digest := inspectDigest(t, reg, "harbor/alpine:3.11", user+":"+password)

	// Harbor's token: a lapps token with the scan scope.
	scanToken := createToken(t, e, "harbor", "scan")
	readToken := createToken(t, e, "reader", "read")

	// Metadata.
	status, hdr, body := harborCall(t, "GET", e.srv.url+"/harbor/api/v1/metadata", scanToken, "", "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/vnd.scanner.adapter.metadata+json") {
		t.Fatalf("metadata: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	md := spec.validate(t, "ScannerAdapterMetadata", body)
	props, _ := md["properties"].(map[string]any)
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(props["harbor.scanner-adapter/vulnerability-database-updated-at"])); err != nil ||
		props["harbor.scanner-adapter/scanner-type"] != "os-package-vulnerability" {
		t.Errorf("metadata properties %v: %v", props, err)
	}
	if status, _, body := harborCall(t, "GET", e.srv.url+"/harbor/api/v1/metadata", "", "", ""); status != 401 {
		t.Errorf("metadata without a token: %d %s", status, body)
	}

	// The scan, through a gate that holds the registry connections until
	// the test has seen the report not ready.
	gate := startGate(t, reg)
	scanReq := func(regAddr, pw string) string {
		b, _ := json.Marshal(map[string]any{
			"registry": map[string]string{"url": "http://" + regAddr, "authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))},
			"artifact": map[string]string{"repository": "harbor/alpine", "digest": digest, "mime_type": "application/vnd.oci.image.manifest.v1+json"},
		})
		return string(b)
	}
	if status, _, body := harborCall(t, "POST", e.srv.url+"/harbor/api/v1/scan", readToken, "", scanReq(gate.addr, password)); status != 403 {
		t.Errorf("scan with a read token: %d %s", status, body)
	}
	status, hdr, body = harborCall(t, "POST", e.srv.url+"/harbor/api/v1/scan", scanToken, "", scanReq(gate.addr, password))
	if status != 202 {
		t.Fatalf("scan: %d %s", status, body)
	}
	id, _ := spec.validate(t, "ScanResponse", body)["id"].(string)
	reportURL := e.srv.url + "/harbor/api/v1/scan/" + id + "/report"
	const vulnType = "application/vnd.security.vulnerability.report; version=1.1"
	status, hdr, body = harborCall(t, "GET", reportURL, scanToken, vulnType, "")
	if status != 302 || hdr.Get("Refresh-After") == "" {
		t.Fatalf("report while the pull is held: %d, Refresh-After %q, %s", status, hdr.Get("Refresh-After"), body)
	}
	gate.open()
	var rep map[string]any
	waitFor(t, 60*time.Second, "the Harbor report", func() (bool, string) {
		status, hdr, body = harborCall(t, "GET", reportURL, scanToken, vulnType, "")
		switch status {
		case 302:
			if hdr.Get("Refresh-After") == "" {
				t.Fatal("302 without Refresh-After")
			}
			return false, "302"
		case 200:
			return true, ""
		}
		t.Fatalf("report: %d %s", status, body)
		return false, ""
	})
	if hdr.Get("Content-Type") != vulnType {
		t.Errorf("report Content-Type %q", hdr.Get("Content-Type"))
	}
	rep = spec.validate(t, "HarborVulnerabilityReport", body)
	if art, _ := rep["artifact"].(map[string]any); art["digest"] != digest || art["repository"] != "harbor/alpine" {
		t.Errorf("artifact %v", rep["artifact"])
	}
	status, _, body2 := harborCall(t, "GET", reportURL, scanToken, "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0", "")
	if status != 200 {
		t.Errorf("Harbor's report type: %d %s", status, body2)
	}
	spec.validate(t, "HarborVulnerabilityReport", body2)

	// SBOMs, in the formats this build has (report/cyclonedx, report/spdx
	// register themselves): the metadata announces exactly those, and each
	// is served as Harbor's SBOM report, the others 501.
	announced := strings.Contains(fmt.Sprint(md["capabilities"]), "sbom")
	for _, mt := range []string{"application/vnd.cyclonedx+json", "application/spdx+json"} {
		status, _, sb := harborCall(t, "GET", reportURL+"?sbom_media_type="+url.QueryEscape(mt), scanToken, "application/vnd.security.sbom.report+json; version=1.0", "")
		inMetadata := announced && strings.Contains(fmt.Sprint(md["capabilities"]), mt)
		switch {
		case status == 200 && inMetadata:
			doc := spec.validate(t, "HarborSbomReport", sb)
			if doc["media_type"] != mt {
				t.Errorf("SBOM %s: media_type %v", mt, doc["media_type"])
			}
			if _, ok := doc["sbom"].(map[string]any); !ok {
				t.Errorf("SBOM %s: no document", mt)
			}
		case status == 501 && !inMetadata:
			t.Logf("SBOM %s: not built in (501)", mt)
		default:
			t.Errorf("SBOM %s: %d (announced in the metadata: %v) %s", mt, status, inMetadata, sb)
		}
	}

	// The same image scanned by the command line on a database of its own.
	cliDB := filepath.Join(t.TempDir(), "cli.db")
	if out, err := e.cli(t, nil, "--db", cliDB, "-c", e.config, "vulndb", "update"); err != nil {
		t.Fatalf("vulndb update: %v\n%s", err, out)
	}
	out, err := e.cli(t, nil, "--db", cliDB, "-c", e.config, "image", "security", "scan", src, "-o", "json")
	if err != nil && !strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Fatalf("cli scan: %v\n%s", err, out)
	}
	var cli report.Report
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatalf("cli report: %v\n%s", err, out)
	}
	if len(cli.Vulnerabilities) == 0 {
		t.Fatal("the command line found no vulnerabilities in alpine 3.11.13: the comparison would prove nothing")
	}
	want := map[string]bool{}
	highest := "Unknown"
	order := []string{"Unknown", "Negligible", "Low", "Medium", "High", "Critical"}
	for _, f := range cli.Vulnerabilities {
		sev := strings.ToUpper(f.Severity.String()[:1]) + f.Severity.String()[1:]
		want[strings.Join([]string{f.ID, f.Package, f.InstalledVersion, f.FixedVersion, sev}, " ")] = true
		if indexOf(order, sev) > indexOf(order, highest) {
			highest = sev
		}
	}
	got := map[string]bool{}
	items, _ := rep["vulnerabilities"].([]any)
	for _, it := range items {
		v := it.(map[string]any)
		got[strings.Join([]string{str(v["id"]), str(v["package"]), str(v["version"]), str(v["fix_version"]), str(v["severity"])}, " ")] = true
	}
	if len(items) != len(cli.Vulnerabilities) || !sameKeys(got, want) {
		t.Errorf("Harbor's report has %d vulnerabilities, the command line's %d; only in Harbor's: %v; only in the CLI's: %v",
			len(items), len(cli.Vulnerabilities), missingFrom(got, want), missingFrom(want, got))
	}
	if rep["severity"] != highest {
		t.Errorf("report severity %v, want %s", rep["severity"], highest)
	}
	t.Logf("Harbor's report: %d vulnerabilities, severity %v, as the command line's", len(items), rep["severity"])

	// A wrong password: the scan fails, and the report says why.
	status, _, body = harborCall(t, "POST", e.srv.url+"/harbor/api/v1/scan", scanToken, "", scanReq(reg, wrong))
	if status != 202 {
		t.Fatalf("scan with a wrong password: %d %s", status, body)
	}
	id2, _ := spec.validate(t, "ScanResponse", body)["id"].(string)
	waitFor(t, 60*time.Second, "the failed scan's report", func() (bool, string) {
		status, _, body = harborCall(t, "GET", e.srv.url+"/harbor/api/v1/scan/"+id2+"/report", scanToken, vulnType, "")
		return status != 302, fmt.Sprint(status)
	})
	msg := fmt.Sprint(spec.validate(t, "ErrorResponse", body)["error"])
	if status != 500 || !strings.Contains(msg, "registry_denied") || !regexp.MustCompile(`(?i)unauthori[sz]ed|authentication required`).MatchString(msg) {
		t.Errorf("report of the failed scan: %d %s", status, body)
	}
	t.Logf("the failed scan's report: %d %s", status, msg)
	if status, _, body := harborCall(t, "GET", e.srv.url+"/harbor/api/v1/scan/nope/report", scanToken, vulnType, ""); status != 404 {
		t.Errorf("unknown id: %d %s", status, body)
	}

	// No password, nor Basic value, in the server's log or answers.
	log := e.srv.log.String()
	for _, secret := range []string{password, wrong, base64.StdEncoding.EncodeToString([]byte(user + ":" + password)), base64.StdEncoding.EncodeToString([]byte(user + ":" + wrong))} {
		if strings.Contains(log, secret) || strings.Contains(string(body), secret) {
			t.Errorf("a registry secret reached the server's log or answers")
		}
	}
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func sameKeys(a, b map[string]bool) bool {
	return len(missingFrom(a, b)) == 0 && len(missingFrom(b, a)) == 0
}

// missingFrom returns the keys of a that b lacks, sorted.
func missingFrom(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// harborCall sends a request as Harbor does (a bearer token, an Accept)
// and returns the status, headers and body; it does not follow 302.
func harborCall(t *testing.T, method, url, token, accept, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.scanner.adapter.scan.request+json; version=1.1")
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// createToken makes a token with scope through the API.
func createToken(t *testing.T, e *env, name, scope string) string {
	t.Helper()
	status, _, body := harborCall(t, "POST", e.srv.url+"/v1/tokens", e.token, "", fmt.Sprintf(`{"name":%q,"scopes":[%q]}`, name, scope))
	var tok struct {
		Secret string `json:"secret"`
	}
	if status != 201 && status != 200 || json.Unmarshal(body, &tok) != nil || tok.Secret == "" {
		t.Fatalf("create token: %d %s", status, body)
	}
	return tok.Secret
}

// startAuthRegistry starts the Debian docker-registry on loopback with
// htpasswd authentication (one bcrypt user) and returns its address.
func startAuthRegistry(t *testing.T, user, password string) string {
	t.Helper()
	bin := testenv.Tool(t, "docker-registry")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"version": 0.1,
		"log":     map[string]any{"level": "info", "formatter": "text", "accesslog": map[string]any{"disabled": true}},
		"storage": map[string]any{"filesystem": map[string]any{"rootdirectory": filepath.Join(dir, "data")},
			"maintenance": map[string]any{"uploadpurging": map[string]any{"enabled": false}}},
		"http": map[string]any{"addr": "127.0.0.1:0", "secret": "e2e-not-a-secret"},
		"auth": map[string]any{"htpasswd": map[string]any{"realm": "e2e", "path": htpasswd}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logBuf := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("registry log:\n%s", logBuf.String())
		}
	})
	re := regexp.MustCompile(`msg="listening on ([0-9.]+:[0-9]+)"`)
	var addr string
	waitFor(t, 15*time.Second, "the registry to listen", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("registry exited:\n%s", logBuf.String())
		default:
		}
		m := re.FindStringSubmatch(logBuf.String())
		if m == nil {
			return false, "no listening line yet"
		}
		resp, err := http.Get("http://" + m[1] + "/v2/")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		addr = m[1]
		// Authentication is on: /v2/ refuses an anonymous caller.
		return resp.StatusCode == http.StatusUnauthorized, fmt.Sprintf("/v2/: HTTP %d", resp.StatusCode)
	})
	return addr
}

func pushWithCreds(t *testing.T, src, reg, repoTag, creds string) {
	t.Helper()
	testenv.Tool(t, "skopeo")
	out, err := exec.Command("skopeo", "copy", "-q", "--dest-tls-verify=false", "--dest-creds", creds, src, "docker://"+reg+"/"+repoTag).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
}

func inspectDigest(t *testing.T, reg, repoTag, creds string) string {
	t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--creds", creds, "--format", "{{.Digest}}", "docker://"+reg+"/"+repoTag).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// gate is a TCP proxy to a registry that holds every connection until
// open is called.
type gate struct {
	addr   string
	opened chan struct{}
	once   sync.Once
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func startGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{addr: ln.Addr().String(), opened: make(chan struct{})}
	t.Cleanup(func() { g.open(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				<-g.opened
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return g
}

// harborSchemas are the component schemas of Harbor's scanner adapter
// spec (../shared/specs/harbor), YAML converted to JSON.
type harborSchemas struct {
	c   *jsonschema.Compiler
	url string
}

func harborSpec(t *testing.T) *harborSchemas {
	t.Helper()
	path := filepath.Join(testenv.Shared(t), "specs", "harbor", "scanner-adapter-openapi-v1.2.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(t, "Harbor's scanner adapter spec: %v", err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(stringKeys(doc))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "file:///harbor-scanner-adapter-v1.2.json"
	if err := c.AddResource(url, inst); err != nil {
		t.Fatal(err)
	}
	return &harborSchemas{c: c, url: url}
}

func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case map[any]any:
		m := map[string]any{}
		for k, e := range v {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
	}
	return v
}

func (s *harborSchemas) validate(t *testing.T, name string, body []byte) map[string]any {
	t.Helper()
	sch, err := s.c.Compile(s.url + "#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, body)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s does not validate: %v\n%s", name, err, body)
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return m
}
