package policy

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

// Real reports, made once per test binary: AlmaLinux 9.3 against the
// AlmaLinux 9 advisories, debian-bookworm-mid against the Debian security
// tracker and the Go vulnerability database.
var (
	scanOnce   sync.Once
	almaReport *report.Report
	debReport  *report.Report
	scanErr    error
)

func reports(t *testing.T) (alma, deb *report.Report) {
	t.Helper()
	images := testenv.Images(t)
	v := testenv.VulnData(t)
	dir := t.TempDir()
	scanOnce.Do(func() {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "lapps.db"))
		if err != nil {
			scanErr = err
			return
		}
		l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{
			{Name: "osv-almalinux", Type: "osv", Path: filepath.Join(v, "almalinux-osv-database", "advisories", "almalinux9")},
			{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
			{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
		}))
		defer l.Close()
		res, err := l.UpdateVulnDB(ctx, nil)
		if err != nil {
			scanErr = err
			return
		}
		for _, r := range res {
			if r.Error != "" {
				t.Errorf("update %s: %s", r.Source, r.Error)
			}
		}
		almaReport, scanErr = l.ScanImage(ctx, service.ScanRequest{Image: "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3", Platform: "linux/arm64"})
		if scanErr != nil {
			return
		}
		debReport, scanErr = l.ScanImage(ctx, service.ScanRequest{Image: "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"})
		// These reports test the vulnerability rules: the configuration
		// checks' findings (root user, no health check) are tested on
		// their own (checks_test.go).
		for _, r := range []*report.Report{almaReport, debReport} {
			if r != nil {
				r.ConfigFindings, r.Secrets = nil, nil
			}
		}
	})
	if scanErr != nil {
		t.Fatal(scanErr)
	}
	return almaReport, debReport
}
