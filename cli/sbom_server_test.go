package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// TestSBOMOverServer: with --server, `lapps sbom scan FILE` uploads the
// file, which the server scans and records under sbom:/ABS/PATH as the
// client names it, so list and report -i work; the server refuses to read
// an sbom: path a caller names outside server.local_images.
func TestSBOMOverServer(t *testing.T) {
	data := testenv.VulnData(t, "github-advisory-database", "advisories")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	roots := []string{filepath.Join(dir, "images")}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{{Name: "ghsa", Type: "osv", Path: data}}),
		service.WithImageOptions(image.WithLocalRoots(roots)))
	t.Cleanup(func() { local.Close() })
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	srv := server.New(local, startJobs(t, local, st, roots...), server.WithLocalImages(roots))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	remote := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(ctx, append([]string{"--server", hs.URL}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	fixture, _ := filepath.Abs(filepath.Join("..", "sbom", "testdata", "trivy-debian-mid.cdx-1.5.json"))
	code, out, stderr := remote("sbom", "scan", fixture, "-o", "json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var r struct {
		Image           string `json:"image"`
		ScanIndex       int    `json:"scan_index"`
		Vulnerabilities []any  `json:"vulnerabilities"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Image != "sbom:"+fixture || r.ScanIndex != 1 || len(r.Vulnerabilities) == 0 {
		t.Fatalf("scan: %v %+v", err, r)
	}
	if code, out, _ := remote("image", "security", "list", "sbom:"+fixture); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if code, out, _ := remote("image", "security", "report", "sbom:"+fixture, "-i", "1"); code != 0 || !strings.Contains(out, "lodash") {
		t.Errorf("report -i 1: exit %d\n%s", code, out)
	}
	if code, _, _ := remote("image", "security", "scan", "sbom:"+filepath.Join("..", "go.mod")); code != ExitBadImage {
		t.Errorf("go.mod uploaded: exit %d, want %d", code, ExitBadImage)
	}
	// Named by path through the API, outside local_images: refused.
	resp, err := http.Post(hs.URL+"/v1/scans", "application/json", strings.NewReader(`{"image":"sbom:`+fixture+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sbom: path outside local_images: %s", resp.Status)
	}
	// Inside local_images, it is read.
	if err := os.MkdirAll(roots[0], 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fixture)
	inside := filepath.Join(roots[0], "bom.json")
	if err := os.WriteFile(inside, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ScanImage(ctx, service.ScanRequest{Image: "sbom:" + inside}); err != nil {
		t.Errorf("under local_images: %v", err)
	}
	// An upload's name must be sbom:NAME.
	resp, err = http.Post(hs.URL+"/v1/sboms/scans?name=debian:12", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("upload named debian:12: %s", resp.Status)
	}
}
