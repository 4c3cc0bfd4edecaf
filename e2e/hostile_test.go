package e2e

// TestHostile builds every hostile input of issue 12 (images, archives,
// registries, feeds, API and admission callers) and runs the lapps binary
// on each, as a user or an attacker would: through the command line, or
// through `lapps serve`'s API. For each case it checks the outcome (a
// clean error or a correct result, nothing half-stored, the server still
// answering) and that the process's peak memory stays under 256 MiB.
//
// With LAPPS_HOSTILE_BASELINE=/path/to/an/older/lapps the same cases run
// on that binary first (its outcomes are not judged; it is killed beyond
// LAPPS_HOSTILE_BASELINE_MEMCAP bytes, 4 GiB by default), and the test
// logs a before/after table of outcome, peak RSS and time (written to
// LAPPS_HOSTILE_TABLE when set).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"archive/tar"

	"github.com/klauspost/compress/gzip"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/testenv/imagegen"
)

// memBound is the peak resident set any lapps process may reach on any
// input (issue 12).
const memBound = 256 << 20

// result is a case's outcome and a one-line account of it for the table.
type result struct {
	o      outcome
	detail string
}

type hostileCase struct {
	id, name string
	run      func(t *testing.T, in *inputs, r *runner) result
	// check judges the current build's result; the memory bound is
	// checked for every case.
	check func(t *testing.T, res result)
}

// inputs are generated once and shared by the baseline's and the current
// build's runs.
type inputs struct {
	t    *testing.T
	dir  string
	mu   sync.Mutex
	made map[string]string
}

func (in *inputs) get(name string, gen func(dir string) string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if p, ok := in.made[name]; ok {
		return p
	}
	dir := filepath.Join(in.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		in.t.Fatal(err)
	}
	p := gen(dir)
	in.made[name] = p
	return p
}

func TestHostile(t *testing.T) {
	images := testenv.Images(t)
	in := &inputs{t: t, dir: t.TempDir(), made: map[string]string{}}
	baseline := os.Getenv("LAPPS_HOSTILE_BASELINE")
	baseCap := int64(4 << 30)
	if v := os.Getenv("LAPPS_HOSTILE_BASELINE_MEMCAP"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("LAPPS_HOSTILE_BASELINE_MEMCAP: %v", err)
		}
		baseCap = n
	}
	var rows []string
	for _, c := range hostileCases(images) {
		t.Run(c.id+"_"+c.name, func(t *testing.T) {
			var before *result
			if baseline != "" {
				r := newRunner(t, baseline, false, baseCap)
				res := c.run(t, in, r)
				before = &res
			}
			r := newRunner(t, lappsBin, true, 1<<30)
			res := c.run(t, in, r)
			if res.o.rss >= memBound {
				t.Errorf("peak RSS %s, over the %s bound (%s)", mib(res.o.rss), mib(memBound), res.detail)
			}
			if res.o.killed != "" {
				t.Errorf("killed (%s) after %s: %s", res.o.killed, res.o.wall.Round(time.Millisecond), res.detail)
			}
			c.check(t, res)
			if before != nil {
				rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", c.id, c.name,
					cell(*before), mib(before.o.rss), before.o.wall.Round(100*time.Millisecond),
					cell(res), mib(res.o.rss), res.o.wall.Round(100*time.Millisecond)))
			}
		})
	}
	if len(rows) > 0 {
		table := "| case | input | before | RSS | time | after | RSS | time |\n|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
		t.Logf("before/after:\n%s", table)
		if p := os.Getenv("LAPPS_HOSTILE_TABLE"); p != "" {
			if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

// cell renders a result for the table.
func cell(res result) string {
	s := res.detail
	if res.o.killed != "" {
		s = fmt.Sprintf("killed (%s) — %s", res.o.killed, s)
	}
	return strings.ReplaceAll(s, "|", "/")
}

// firstLine is the first line of s, shortened.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 140 {
		s = s[:140] + "…"
	}
	return s
}

// exitDetail describes a command's ending.
func exitDetail(o outcome) string {
	if o.killed != "" {
		return fmt.Sprintf("exit %d", o.exit)
	}
	if o.exit == 0 {
		return "exit 0"
	}
	return fmt.Sprintf("exit %d: %s", o.exit, firstLine(o.stderr))
}

func wantExit(t *testing.T, res result, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if res.o.exit == c {
			return
		}
	}
	t.Errorf("exit %d, want %v: %s\nstderr: %s", res.o.exit, codes, res.detail, firstLine(res.o.stderr))
}

func wantStderr(t *testing.T, res result, sub string) {
	t.Helper()
	if !strings.Contains(res.o.stderr, sub) {
		t.Errorf("stderr does not mention %q: %s", sub, firstLine(res.o.stderr))
	}
}

// noScans checks that nothing was recorded for ref.
func noScans(t *testing.T, r *runner, ref string) {
	t.Helper()
	if o := r.run("image", "security", "list", ref); o.exit != 6 {
		t.Errorf("after the failed scan, list %s: exit %d (want 6, no scans): %s", ref, o.exit, firstLine(o.stderr))
	}
}

func hostileCases(images string) []hostileCase {
	alpineArchive := filepath.Join(images, "rootfs", "alpine-3.20.3.docker.tar")
	alpineOCI := "oci:" + filepath.Join(images, "rootfs", "oci") + ":alpine-3.20.3"
	return []hostileCase{
		{id: "1", name: "admission without a token naming the server's files", run: caseAdmissionAnonymous,
			check: func(t *testing.T, res result) {
				if !strings.HasPrefix(res.detail, "HTTP 401") && !strings.HasPrefix(res.detail, "HTTP 403") {
					t.Errorf("want 401 or 403: %s", res.detail)
				}
				if !strings.Contains(res.detail, " 0 scans queued") {
					t.Errorf("scans were queued: %s", res.detail)
				}
			}},
		{id: "2", name: "docker-archive claiming the diff IDs of an indexed image", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseCacheLie(t, in, r, alpineArchive)
		}, check: func(t *testing.T, res result) {
			wantExit(t, res, 5)
			wantStderr(t, res, "diff")
		}},
		{id: "3a", name: "registry config of 1 GiB sent gzip-encoded", run: caseGzipConfig,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 5)
				wantStderr(t, res, "limit")
			}},
		{id: "3b", name: "dpkg status of 1.2 million packages (7 MB image)", run: caseManyPackages,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 5)
				wantStderr(t, res, "limits.packages")
			}},
		{id: "3c", name: "20 GNU-sparse package.json claiming 500 MB each", run: caseSparse,
			check: func(t *testing.T, res result) { wantExit(t, res, 0) }},
		{id: "3d", name: "a 400 MB package.json", run: caseHugePackageJSON,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 0)
				if !strings.Contains(res.detail, "warning") {
					t.Errorf("the skipped file is not reported: %s", res.detail)
				}
			}},
		{id: "4a", name: "181-byte zip claiming 2^62 bytes (vulndb import)", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseZipClaim(t, in, r, 1<<62)
		}, check: checkFeedRefused},
		{id: "4a'", name: "zip claiming 2^45 bytes (vulndb import)", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseZipClaim(t, in, r, 1<<45)
		}, check: checkFeedRefused},
		{id: "4b", name: "the same zip imported through lapps serve", run: caseZipServer,
			check: func(t *testing.T, res result) {
				if !strings.Contains(res.detail, "server still answers") {
					t.Errorf("the server died: %s", res.detail)
				}
			}},
		{id: "4c", name: "1 MB debian-tracker zip holding a 1 GiB JSON string", run: caseTrackerString, check: checkFeedRefused},
		{id: "5a", name: "AdmissionReview of 100k images", run: caseReviewFlood,
			check: func(t *testing.T, res result) {
				var jobs, lines int
				if _, err := fmt.Sscanf(res.detail[strings.Index(res.detail, "jobs="):], "jobs=%d lines=%d", &jobs, &lines); err != nil {
					t.Fatalf("detail %q: %v", res.detail, err)
				}
				if jobs > 64 || lines > 20 {
					t.Errorf("%d jobs queued, %d log lines: want at most 64 and 20", jobs, lines)
				}
			}},
		{id: "5b", name: "docker-archive: of a FIFO", run: caseFIFO,
			check: func(t *testing.T, res result) { wantExit(t, res, 2, 5) }},
		{id: "5c", name: "SIGTERM with a scan stuck on a stalled registry", run: caseStuckShutdown,
			check: func(t *testing.T, res result) {
				if res.o.killed != "" || res.o.wall > 15*time.Second {
					t.Errorf("shutdown took %s: %s", res.o.wall, res.detail)
				}
				if !strings.Contains(res.detail, "attempts=1") {
					t.Errorf("the released job does not count its attempt: %s", res.detail)
				}
			}},
		{id: "6", name: "a read-only token imports over a configured source; remote token create", run: caseScopes,
			check: func(t *testing.T, res result) {
				if !strings.Contains(res.detail, "import HTTP 403") || !strings.Contains(res.detail, "remote token works") {
					t.Errorf("scopes: %s", res.detail)
				}
			}},
		{id: "7", name: "scan of an internal address through the API", run: caseSSRF,
			check: func(t *testing.T, res result) {
				if !strings.Contains(res.detail, "internal hits=0") || strings.Contains(res.detail, "INTERNAL-SECRET") {
					t.Errorf("SSRF: %s", res.detail)
				}
			}},
		{id: "8a", name: "375 KB zstd layer expanding to 10 GB", run: caseBomb,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 5)
				wantStderr(t, res, "limit")
			}},
		{id: "8b", name: "a manifest listing the same layer 40 times", run: caseRepeatedLayer,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 0)
				if !strings.Contains(res.detail, "indexed 1 time") {
					t.Errorf("%s", res.detail)
				}
			}},
		{id: "8c", name: "95,000 layers", run: caseManyLayers,
			check: func(t *testing.T, res result) {
				wantExit(t, res, 5)
				wantStderr(t, res, "limits.layers")
			}},
		{id: "9", name: "image security list while a long import runs", run: caseBusy,
			check: func(t *testing.T, res result) {
				if !strings.Contains(res.detail, "busy=0") || !strings.HasPrefix(res.detail, "import exit 0 ") || strings.Contains(res.detail, "; 0 lists") {
					t.Errorf("%s", res.detail)
				}
			}},
		{id: "11", name: "feed URL with credentials in errors and status", run: caseFeedSecrets,
			check: func(t *testing.T, res result) {
				if strings.Contains(res.detail, "leaked") {
					t.Errorf("%s", res.detail)
				}
			}},
		{id: "12", name: "OSV ranges with empty fixed, last_affected, versions", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseEmptyRanges(t, in, r, alpineOCI)
		}, check: func(t *testing.T, res result) {
			if !strings.Contains(res.detail, "; 0 findings from the malformed records") || !strings.Contains(res.detail, "malformed entries skipped (") {
				t.Errorf("%s", res.detail)
			}
		}},
		{id: "14a", name: "--platform linux/arm64 on a single-platform amd64 image", run: func(t *testing.T, in *inputs, r *runner) result {
			o := r.run("image", "security", "scan", "--platform", "linux/arm64", alpineOCI)
			return result{o: o, detail: exitDetail(o)}
		}, check: func(t *testing.T, res result) { wantExit(t, res, 3) }},
		{id: "14b", name: "report -i 0", run: func(t *testing.T, in *inputs, r *runner) result {
			if o := r.run("image", "security", "scan", alpineOCI); o.exit != 0 {
				t.Fatalf("scan: %s", o.stderr)
			}
			o := r.run("image", "security", "report", alpineOCI, "-i", "0")
			return result{o: o, detail: exitDetail(o)}
		}, check: func(t *testing.T, res result) { wantExit(t, res, 2) }},
		{id: "14c", name: "a bare file path as IMAGE", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseBarePath(t, r, alpineArchive)
		}, check: func(t *testing.T, res result) {
			wantExit(t, res, 2)
			wantStderr(t, res, "docker-archive:")
		}},
		{id: "14d", name: "empty, text and truncated archives", run: func(t *testing.T, in *inputs, r *runner) result {
			return caseBadArchives(t, in, r, alpineArchive)
		}, check: func(t *testing.T, res result) {
			if res.detail != "empty: exit 5; text: exit 5; truncated: exit 5; oci-archive empty: exit 5" {
				t.Errorf("%s", res.detail)
			}
		}},
	}
}

// checkFeedRefused: the import failed cleanly (exit 7, no panic) and the
// data imported before under the same name is intact.
func checkFeedRefused(t *testing.T, res result) {
	t.Helper()
	wantExit(t, res, 7)
	if strings.Contains(res.o.stderr, "panic") || strings.Contains(res.o.stderr, "goroutine ") {
		t.Errorf("panicked: %s", firstLine(res.o.stderr))
	}
	if !strings.Contains(res.detail, "earlier data intact") {
		t.Errorf("%s", res.detail)
	}
}

// podReview is an AdmissionReview of a pod with the given images.
func podReview(images []string) []byte {
	containers := make([]map[string]string, len(images))
	for i, im := range images {
		containers[i] = map[string]string{"name": fmt.Sprintf("c%d", i), "image": im}
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "6f0e2c1a-0000-4000-8000-000000000001", "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"namespace": "default", "name": "p", "operation": "CREATE",
			"object": map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]string{"name": "p", "namespace": "default"},
				"spec": map[string]any{"containers": containers}},
		},
	})
	return b
}

func caseAdmissionAnonymous(t *testing.T, in *inputs, r *runner) result {
	s := r.serve("server:\n  admission:\n    fail_open: false\n")
	code, body := s.do("POST", "/v1/admission", "", "application/json",
		podReview([]string{"dir:/etc", "docker-archive:/etc/passwd", "oci:/var/lib:x"}))
	time.Sleep(2 * time.Second) // let queued scans run
	o := s.stop(30 * time.Second)
	jobs := r.query(`SELECT COUNT(*) FROM jobs`)
	scanned := r.query(`SELECT COUNT(*) FROM scans WHERE image LIKE 'dir:%' OR image LIKE 'docker-archive:%' OR image LIKE 'oci:%'`)
	_ = body
	return result{o: o, detail: fmt.Sprintf("HTTP %d, %d scans queued, %d of the server's own files recorded", code, jobs, scanned)}
}

// archiveDiffIDs reads the diff IDs of a docker-archive's only image.
func archiveDiffIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(hdr.Name, ".json") && hdr.Size < 1<<20 {
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(hdr.Name, "./")] = b
		}
	}
	var m []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json of %s: %v", path, err)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[m[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.RootFS.DiffIDs
}

func caseCacheLie(t *testing.T, in *inputs, r *runner, alpineArchive string) result {
	fake := in.get("cache-lie", func(dir string) string {
		diffIDs := archiveDiffIDs(t, alpineArchive)
		var layers []imagegen.Layer
		for i, d := range diffIDs {
			l := imagegen.TarLayer(t, dir, imagegen.Uncompressed,
				imagegen.File("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
				imagegen.File("lib/apk/db/installed", fmt.Sprintf("P:hidden-package-%d\nV:1.0.0-r0\nA:x86_64\no:hidden\n\n", i)))
			l.DiffID = d // the lie
			layers = append(layers, l)
		}
		return imagegen.DockerArchive(t, filepath.Join(dir, "fake.tar"), layers)
	})
	if o := r.run("image", "security", "scan", "docker-archive:"+alpineArchive); o.exit != 0 {
		t.Fatalf("scan the real image: %s", o.stderr)
	}
	o := r.run("image", "security", "scan", fake, "-o", "json")
	detail := exitDetail(o)
	if o.exit == 0 {
		if strings.Contains(o.stdout, "hidden-package") {
			detail = "exit 0, the archive's real content reported"
		} else {
			detail = "exit 0, the cached image reported; the archive's content never read"
		}
	}
	return result{o: o, detail: detail}
}

// hostileRegistry serves one image whose configuration is a 1 GiB JSON
// document, sent gzip-encoded (about 1 MB on the wire).
func hostileRegistry(t *testing.T, in *inputs) *httptest.Server {
	gz := in.get("gzip-config", func(dir string) string {
		p := filepath.Join(dir, "config.gz")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
		_, _ = io.WriteString(zw, `{"architecture":"amd64","os":"linux","pad":"`)
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for i := 0; i < 1024; i++ {
			_, _ = zw.Write(chunk)
		}
		_, _ = io.WriteString(zw, `"}`)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	})
	body, err := os.ReadFile(gz)
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest := "sha256:" + strings.Repeat("c", 64)
	layerDigest := "sha256:" + strings.Repeat("d", 64)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": 1 << 30},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": 100}},
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasSuffix(req.URL.Path, "/manifests/1") || strings.Contains(req.URL.Path, "/manifests/sha256:"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", imagegen.DigestOf(manifest))
			_, _ = w.Write(manifest)
		case strings.HasSuffix(req.URL.Path, "/blobs/"+cfgDigest):
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(body)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func caseGzipConfig(t *testing.T, in *inputs, r *runner) result {
	srv := hostileRegistry(t, in)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/hostile/config:1"
	o := r.run("image", "security", "scan", ref)
	return result{o: o, detail: exitDetail(o)}
}

func caseManyPackages(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("many-packages", func(dir string) string {
		l := imagegen.TarLayer(t, dir, imagegen.Gzipped, imagegen.OSRelease(), imagegen.DPKGStatus(1_200_000))
		return imagegen.OCILayout(t, dir, []imagegen.Layer{l}, "")
	})
	o := r.run("image", "security", "scan", ref)
	if r.current && o.exit != 0 {
		noScans(t, r, ref)
	}
	return result{o: o, detail: exitDetail(o)}
}

func caseSparse(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("sparse", func(dir string) string {
		entries := []imagegen.Entry{imagegen.OSRelease()}
		for i := 0; i < 20; i++ {
			entries = append(entries, imagegen.Sparse(fmt.Sprintf("usr/lib/node_modules/p%d/package.json", i), 500_000_000))
		}
		return imagegen.OCILayout(t, dir, []imagegen.Layer{imagegen.TarLayer(t, dir, imagegen.Gzipped, entries...)}, "")
	})
	o := r.run("image", "security", "scan", ref, "-o", "json")
	return result{o: o, detail: exitDetail(o)}
}

func caseHugePackageJSON(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("huge-package-json", func(dir string) string {
		const size = 400 << 20
		head, tail := `{"name":"huge","version":"1.0.0","description":"`, `"}`
		e := imagegen.Entry{Name: "usr/lib/node_modules/huge/package.json", Size: int64(len(head) + size + len(tail)), Body: func(w io.Writer) error {
			_, _ = io.WriteString(w, head)
			// 1 MiB of random letters, repeated: zstd finds the repeats
			// (a small blob), at a ratio below limits.compression_ratio.
			chunk := make([]byte, 1<<20)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range chunk {
				chunk[i] = 'a' + byte(rng.IntN(26))
			}
			for i := 0; i < size>>20; i++ {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, tail)
			return err
		}}
		return imagegen.OCILayout(t, dir, []imagegen.Layer{imagegen.TarLayer(t, dir, imagegen.Zstded, imagegen.OSRelease(), e)}, "")
	})
	o := r.run("image", "security", "scan", ref, "-o", "json")
	detail := exitDetail(o)
	if o.exit == 0 {
		var rep struct{ Warnings []string }
		_ = json.Unmarshal([]byte(o.stdout), &rep)
		if len(rep.Warnings) > 0 {
			detail = "exit 0, warning: " + firstLine(rep.Warnings[0])
		}
	}
	return result{o: o, detail: detail}
}

// goodSecdb writes a small real secdb to import first.
func goodSecdb(t *testing.T, in *inputs) string {
	return in.get("good-secdb", func(dir string) string {
		b, err := os.ReadFile(testenv.VulnData(t, "alpine-secdb", "v3.11", "main.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "main.yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// sourceRecords returns the records of source name in `vulndb status`.
func sourceRecords(t *testing.T, r *runner, name string) int {
	o := r.run("vulndb", "status", "-o", "json")
	var st []struct {
		Source  string
		Records int
	}
	if err := json.Unmarshal([]byte(o.stdout), &st); err != nil {
		return -1
	}
	for _, s := range st {
		if s.Source == name {
			return s.Records
		}
	}
	return -1
}

// importHostile imports good data under a name, then the hostile file
// under the same name, and says whether the good data survived.
func importHostile(t *testing.T, r *runner, typ, good, goodType, hostile string) result {
	if o := r.run("vulndb", "import", "--type", goodType, good, "--name", "feed"); o.exit != 0 {
		t.Fatalf("import the good data: %s", o.stderr)
	}
	n := sourceRecords(t, r, "feed")
	o := r.run("vulndb", "import", "--type", typ, hostile, "--name", "feed", "--replace")
	detail := exitDetail(o)
	if strings.Contains(o.stderr, "panic") {
		detail = "crashed: " + firstLine(o.stderr[strings.Index(o.stderr, "panic"):])
	}
	if m := sourceRecords(t, r, "feed"); m == n && n > 0 {
		detail += "; earlier data intact"
	} else {
		detail += fmt.Sprintf("; earlier data %d → %d records", n, m)
	}
	return result{o: o, detail: detail}
}

func zipClaim(t *testing.T, in *inputs, claim uint64) string {
	return in.get(fmt.Sprintf("zip-claim-%d", claim), func(dir string) string {
		p := filepath.Join(dir, "secdb.zip")
		imagegen.WriteZip(t, p, imagegen.ZipMember{Name: "main.json", Claim: claim, Content: []byte(`{"packages":[]}`)})
		return p
	})
}

func caseZipClaim(t *testing.T, in *inputs, r *runner, claim uint64) result {
	return importHostile(t, r, "alpine-secdb", goodSecdb(t, in), "alpine-secdb", zipClaim(t, in, claim))
}

func caseZipServer(t *testing.T, in *inputs, r *runner) result {
	tok := r.token("admin")
	s := r.serve("server:\n  require_token: true\n")
	zip, err := os.ReadFile(zipClaim(t, in, 1<<62))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := s.do("POST", "/v1/sources/import?type=alpine-secdb&name=feed&filename=secdb.zip", tok, "application/octet-stream", zip)
	detail := fmt.Sprintf("import HTTP %d (%d bytes)", code, len(zip))
	if c, _ := s.do("GET", "/healthz", "", "", nil); c == http.StatusOK {
		detail += "; server still answers"
	} else {
		detail += "; server dead"
	}
	o := s.stop(30 * time.Second)
	return result{o: o, detail: detail}
}

func caseTrackerString(t *testing.T, in *inputs, r *runner) result {
	hostile := in.get("tracker-string", func(dir string) string {
		p := filepath.Join(dir, "tracker.zip")
		imagegen.WriteZip(t, p, imagegen.ZipMember{Name: "json", Gen: func(w io.Writer) error {
			_, _ = io.WriteString(w, `{"openssl":{"CVE-2024-0001":{"description":"`)
			chunk := bytes.Repeat([]byte("a"), 1<<20)
			for i := 0; i < 1024; i++ {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, `","releases":{}}}}`)
			return err
		}})
		return p
	})
	good := in.get("good-tracker", func(dir string) string {
		p := filepath.Join(dir, "json")
		if err := os.WriteFile(p, []byte(`{"openssl":{"CVE-2024-0002":{"description":"x","releases":{"bookworm":{"status":"resolved","fixed_version":"3.0.13-1","urgency":"low","repositories":{"bookworm":"3.0.11-1"}}}}}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	})
	return importHostile(t, r, "debian-tracker", good, "debian-tracker", hostile)
}

func caseReviewFlood(t *testing.T, in *inputs, r *runner) result {
	cfg := "server:\n  admission:\n    fail_open: true\n    token: admission-token\n"
	if r.current {
		cfg += "    allow_plain_http: true\n"
	}
	s := r.serve(cfg)
	images := make([]string, 100_000)
	for i := range images {
		images[i] = fmt.Sprintf("registry.invalid/team/image-%06d:1.0", i)
	}
	review := podReview(images)
	code, _ := s.do("POST", "/v1/admission", "admission-token", "application/json", review)
	time.Sleep(time.Second)
	o := s.stop(60 * time.Second)
	jobs := r.query(`SELECT COUNT(*) FROM jobs`)
	lines := s.logLines("admission")
	return result{o: o, detail: fmt.Sprintf("review of %.1f MB: HTTP %d, jobs=%d lines=%d", float64(len(review))/1e6, code, jobs, lines)}
}

func caseFIFO(t *testing.T, in *inputs, r *runner) result {
	fifo := filepath.Join(r.dir, "image.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	save := r.timeout
	r.timeout = 20 * time.Second
	defer func() { r.timeout = save }()
	o := r.run("image", "security", "scan", "docker-archive:"+fifo)
	detail := exitDetail(o)
	if o.killed == "timeout" {
		detail = "blocked, killed after 20 s"
	}
	return result{o: o, detail: detail}
}

// stallingRegistry serves an image whose layer blob never finishes.
func stallingRegistry(t *testing.T, in *inputs) (*httptest.Server, chan struct{}) {
	dir := in.get("stall-layout", func(dir string) string {
		l := imagegen.TarLayer(t, dir, imagegen.Gzipped, imagegen.OSRelease(), imagegen.File("hello", "hi"))
		return imagegen.OCILayout(t, dir, []imagegen.Layer{l}, "")
	})
	layout := strings.TrimSuffix(strings.TrimPrefix(dir, "oci:"), ":hostile")
	idx, _ := os.ReadFile(filepath.Join(layout, "index.json"))
	var index struct{ Manifests []struct{ Digest string } }
	_ = json.Unmarshal(idx, &index)
	md := index.Manifests[0].Digest
	manifest, _ := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(md, "sha256:")))
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	_ = json.Unmarshal(manifest, &m)
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == "/v2/":
		case strings.Contains(req.URL.Path, "/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", md)
			_, _ = w.Write(manifest)
		case strings.HasSuffix(req.URL.Path, m.Config.Digest):
			b, _ := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(m.Config.Digest, "sha256:")))
			_, _ = w.Write(b)
		case strings.HasSuffix(req.URL.Path, m.Layers[0].Digest):
			w.Header().Set("Content-Length", "1000000")
			_, _ = w.Write([]byte{0x1f, 0x8b})
			w.(http.Flusher).Flush()
			arrived <- struct{}{}
			select {
			case <-req.Context().Done():
			case <-time.After(10 * time.Minute):
			}
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, arrived
}

func caseStuckShutdown(t *testing.T, in *inputs, r *runner) result {
	reg, arrived := stallingRegistry(t, in)
	host := strings.TrimPrefix(reg.URL, "http://")
	tok := r.token("scan")
	cfg := "server:\n  require_token: true\n"
	if r.current {
		cfg += fmt.Sprintf("  shutdown_timeout: 5s\n  registries:\n    allow: [%q]\n", host)
	}
	s := r.serve(cfg)
	code, Body := s.do("POST", "/v1/scans", tok, "application/json", []byte(`{"image":"`+host+`/stuck/image:1"}`))
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/scans: %d %s", code, Body)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the scan never reached the layer")
	}
	o := s.stop(45 * time.Second)
	detail := fmt.Sprintf("stopped after %.1f s", o.wall.Seconds())
	if o.killed != "" {
		detail = "still running 45 s after SIGTERM, killed"
	}
	detail += fmt.Sprintf("; job attempts=%d", r.query(`SELECT attempts FROM jobs LIMIT 1`))
	return result{o: o, detail: detail}
}

func caseScopes(t *testing.T, in *inputs, r *runner) result {
	good := goodSecdb(t, in)
	read := r.token("read")
	admin := r.token("admin")
	cfg := fmt.Sprintf("vulndb:\n  sources:\n    - name: alpine-secdb\n      type: alpine-secdb\n      path: %s\n      interval: 24h\nserver:\n  require_token: true\n", good)
	s := r.serve(cfg)
	// Wait for the configured source's first ingest.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, Body := s.do("GET", "/v1/sources", admin, "", nil); strings.Contains(Body, `"records":`) && !strings.Contains(Body, `"records":0`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, _ := s.do("POST", "/v1/sources/import?type=alpine-secdb&name=alpine-secdb&filename=main.json", read, "application/octet-stream", []byte(`{"packages":[]}`))
	detail := fmt.Sprintf("import HTTP %d", code)
	_, Body := s.do("GET", "/v1/sources", admin, "", nil)
	if strings.Contains(Body, `"records":0`) {
		detail += " (the configured source emptied)"
	}
	// A token made over the API with --server.
	cli := r.start([]string{"LAPPS_TOKEN=" + admin}, "--server", s.url, "token", "create", "remote", "--scope", "read")
	if !r.current {
		cli = r.start([]string{"LAPPS_TOKEN=" + admin}, "--server", s.url, "token", "create", "remote")
	}
	co := cli.wait(30 * time.Second)
	remote := strings.TrimSpace(co.stdout)
	if c, _ := s.do("GET", "/v1/sources", remote, "", nil); co.exit == 0 && c == http.StatusOK {
		detail += "; remote token works"
	} else {
		detail += fmt.Sprintf("; remote token create exit %d, the server answers it %d", co.exit, c)
	}
	o := s.stop(30 * time.Second)
	return result{o: o, detail: detail}
}

func caseSSRF(t *testing.T, in *inputs, r *runner) result {
	var mu sync.Mutex
	hits := 0
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "INTERNAL-SECRET-42: db password hunter2")
	}))
	defer internal.Close()
	tok := r.token("scan")
	s := r.serve("server:\n  require_token: true\n")
	host := strings.TrimPrefix(internal.URL, "http://")
	code, Body := s.do("POST", "/v1/scans", tok, "application/json", []byte(`{"image":"`+host+`/x/y:1"}`))
	detail := fmt.Sprintf("POST HTTP %d", code)
	var job struct {
		ID    string
		State string
		Error *struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(Body), &job)
	for i := 0; i < 100 && job.ID != "" && job.State != "failed" && job.State != "succeeded"; i++ {
		time.Sleep(100 * time.Millisecond)
		_, b := s.do("GET", "/v1/jobs/"+job.ID, tok, "", nil)
		_ = json.Unmarshal([]byte(b), &job)
	}
	if job.Error != nil {
		detail += fmt.Sprintf("; job %s: %s", job.Error.Code, firstLine(job.Error.Message))
	}
	o := s.stop(30 * time.Second)
	mu.Lock()
	detail += fmt.Sprintf("; internal hits=%d", hits)
	mu.Unlock()
	return result{o: o, detail: detail}
}

func caseBomb(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("bomb", func(dir string) string {
		b, _ := imagegen.WriteBlob(t, dir, imagegen.Zstded, func(w io.Writer) error {
			return imagegen.WriteTar(w, []imagegen.Entry{imagegen.OSRelease(), imagegen.Zeros("big", 10<<30)})
		})
		return imagegen.OCILayout(t, dir, []imagegen.Layer{{Blob: b, DiffID: "sha256:" + strings.Repeat("0", 64)}}, "")
	})
	o := r.run("image", "security", "scan", ref)
	return result{o: o, detail: exitDetail(o)}
}

func caseRepeatedLayer(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("repeated", func(dir string) string {
		rnd := make([]byte, 16<<20)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range rnd {
			rnd[i] = byte(rng.Uint32())
		}
		l := imagegen.TarLayer(t, dir, imagegen.Gzipped, imagegen.OSRelease(), imagegen.DPKGStatus(500), imagegen.File("opt/random.bin", string(rnd)))
		layers := make([]imagegen.Layer, 40)
		for i := range layers {
			layers[i] = l
		}
		return imagegen.OCILayout(t, dir, layers, "")
	})
	o := r.run("--debug", "image", "security", "scan", ref)
	n := strings.Count(o.stderr, `msg="indexed layer"`)
	return result{o: o, detail: fmt.Sprintf("%s, layer indexed %d time(s)", exitDetail(o), n)}
}

func caseManyLayers(t *testing.T, in *inputs, r *runner) result {
	ref := in.get("many-layers", func(dir string) string {
		l := imagegen.TarLayer(t, dir, imagegen.Gzipped, imagegen.File("a", "a"))
		layers := make([]imagegen.Layer, 95_000)
		for i := range layers {
			layers[i] = l
		}
		return imagegen.OCILayout(t, dir, layers, "")
	})
	o := r.run("image", "security", "scan", ref)
	return result{o: o, detail: exitDetail(o)}
}

// bigOSV writes an OSV zip of n records, to make an import that writes
// for a long time.
func bigOSV(t *testing.T, in *inputs, n int) string {
	return in.get(fmt.Sprintf("big-osv-%d", n), func(dir string) string {
		p := filepath.Join(dir, "all.zip")
		members := make([]imagegen.ZipMember, 0, n)
		for i := 0; i < n; i++ {
			rec := fmt.Sprintf(`{"id":"LAPPS-TEST-%07d","modified":"2024-01-01T00:00:00Z","summary":"synthetic record %d","affected":[{"package":{"ecosystem":"npm","name":"pkg-%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.%d.0"}]}]}]}`, i, i, i%5000, i)
			members = append(members, imagegen.ZipMember{Name: fmt.Sprintf("LAPPS-TEST-%07d.json", i), Gen: func(w io.Writer) error {
				_, err := io.WriteString(w, rec)
				return err
			}})
		}
		imagegen.WriteZip(t, p, members...)
		return p
	})
}

var busyRE = regexp.MustCompile(`(?i)SQLITE_BUSY|database is locked`)

func caseBusy(t *testing.T, in *inputs, r *runner) result {
	zip := bigOSV(t, in, 300_000)
	imp := r.start(nil, "vulndb", "import", "--type", "osv", zip, "--name", "big")
	busy, runs := 0, 0
	var worst outcome
	var listRSS int64
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-imp.done:
			deadline = time.Now()
			continue
		default:
		}
		o := r.run("image", "security", "list", "docker.io/library/debian:12")
		runs++
		listRSS = max(listRSS, o.rss)
		if o.exit != 6 || busyRE.MatchString(o.stderr) {
			busy++
			worst = o
		}
		time.Sleep(200 * time.Millisecond)
	}
	io := imp.wait(time.Minute)
	detail := fmt.Sprintf("import %s in %.1f s (its peak RSS %s); %d lists during it, busy=%d", exitDetail(io), io.wall.Seconds(), mib(io.rss), runs, busy)
	if busy > 0 {
		detail += ": " + firstLine(worst.stderr)
	}
	// The bound on memory is the lists' (the commands this case is about);
	// the import's memory grows with the feed, within the feed's bounds,
	// and is reported in the detail.
	o := io
	o.rss = listRSS
	return result{o: o, detail: detail}
}

func caseFeedSecrets(t *testing.T, in *inputs, r *runner) result {
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer feed.Close()
	u := strings.Replace(feed.URL, "http://", "http://ci:hunter2@", 1) + "/feed/main.json?token=tok-123456"
	cfg := filepath.Join(r.dir, "feeds.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("vulndb:\n  sources:\n    - name: secret-feed\n      type: alpine-secdb\n      urls: [%q]\n", u)), 0o600); err != nil {
		t.Fatal(err)
	}
	up := r.run("-c", cfg, "vulndb", "update")
	st := r.run("-c", cfg, "vulndb", "status", "-o", "json")
	var leaks []string
	for what, s := range map[string]string{"update stderr": up.stderr, "update stdout": up.stdout, "status": st.stdout + st.stderr} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-123456") {
			leaks = append(leaks, what)
		}
	}
	detail := "update " + exitDetail(up)
	if len(leaks) > 0 {
		detail += "; credentials leaked in " + strings.Join(leaks, ", ")
	} else {
		detail += "; no credentials shown"
	}
	return result{o: up, detail: detail}
}

func caseEmptyRanges(t *testing.T, in *inputs, r *runner, alpineOCI string) result {
	p := in.get("empty-ranges", func(dir string) string {
		recs := []string{
			`{"id":"LAPPS-EMPTY-FIXED","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"musl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":""}]}]}]}`,
			`{"id":"LAPPS-EMPTY-LAST","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"last_affected":""}]}]}]}`,
			`{"id":"LAPPS-EMPTY-VERSIONS","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"zlib"},"versions":[""]}]}`,
		}
		for i, rec := range recs {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d.json", i)), []byte(rec), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	})
	imp := r.run("vulndb", "import", "--type", "osv", p, "--name", "malformed")
	o := r.run("image", "security", "scan", alpineOCI, "-o", "json")
	n := strings.Count(o.stdout, `"LAPPS-EMPTY-`)
	detail := fmt.Sprintf("import %s; %d findings from the malformed records", exitDetail(imp), n)
	if _, after, ok := strings.Cut(strings.TrimSpace(imp.stdout), "; "); ok {
		detail += "; import said: " + after
	}
	return result{o: o, detail: detail}
}

func caseBarePath(t *testing.T, r *runner, alpineArchive string) result {
	b, err := os.ReadFile(alpineArchive)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "image.tar"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	o := r.startDir(r.dir, nil, "image", "security", "scan", "image.tar").wait(time.Minute)
	return result{o: o, detail: exitDetail(o)}
}

func caseBadArchives(t *testing.T, in *inputs, r *runner, alpineArchive string) result {
	dir := in.get("bad-archives", func(dir string) string {
		b, err := os.ReadFile(alpineArchive)
		if err != nil {
			t.Fatal(err)
		}
		for Name, Content := range map[string][]byte{
			"empty.tar": nil, "text.tar": []byte("this is not a tar archive\n"), "truncated.tar": b[:len(b)/2],
		} {
			if err := os.WriteFile(filepath.Join(dir, Name), Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	})
	var parts []string
	var last outcome
	for _, c := range []struct{ label, ref string }{
		{"empty", "docker-archive:" + filepath.Join(dir, "empty.tar")},
		{"text", "docker-archive:" + filepath.Join(dir, "text.tar")},
		{"truncated", "docker-archive:" + filepath.Join(dir, "truncated.tar")},
		{"oci-archive empty", "oci-archive:" + filepath.Join(dir, "empty.tar")},
	} {
		last = r.run("image", "security", "scan", c.ref)
		parts = append(parts, fmt.Sprintf("%s: exit %d", c.label, last.exit))
	}
	return result{o: last, detail: strings.Join(parts, "; ")}
}
