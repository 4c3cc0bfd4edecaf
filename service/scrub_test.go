package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// secdbWithMusl writes the real v3.11 secdb with one more (invented) musl
// fix, newer than the image's musl 1.1.24-r3, when extra is set.
func secdbWithMusl(t *testing.T, dir string, extra bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.VulnData(t), "alpine-secdb", "v3.11", "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if extra {
		const at = "      name: musl\n      secfixes:\n"
		if !strings.Contains(s, at) {
			t.Fatal("musl entry not found in the v3.11 secdb")
		}
		s = strings.Replace(s, at, at+"        1.1.24-r9:\n          - CVE-2099-0001\n", 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScrubAndGC(t *testing.T) {
	images := testenv.Images(t)
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	l, reads := newTestLocal(t)
	data := t.TempDir()
	secdbWithMusl(t, data, false)
	l.sources = []updater.Source{{Name: "alpine-secdb", Type: "alpine-secdb", Path: data}}
	if res, err := l.UpdateVulnDB(ctx, nil); err != nil || res[0].Error != "" {
		t.Fatalf("update: %v %+v", err, res)
	}
	layout := filepath.Join(images, "rootfs", "oci")
	local := "oci:" + layout + ":alpine-3.11.13"
	if _, err := l.ScanImage(ctx, ScanRequest{Image: local}); err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "oci:"+layout+":alpine-3.13.12", "lib/alpine:moving", "")
	moving := reg.Addr + "/lib/alpine:moving"
	if _, err := l.ScanImage(ctx, ScanRequest{Image: moving}); err != nil {
		t.Fatal(err)
	}

	// Nothing changed: no new scan, no layer read.
	reads.Store(0)
	res, err := l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images != 2 || res.Changed != 0 || res.Rescanned != 0 || res.Failed != 0 || reads.Load() != 0 {
		t.Fatalf("scrub of unchanged data: %+v, %d layer reads", res, reads.Load())
	}

	// New data affecting musl: one new scan for the alpine 3.11 image,
	// still without reading a layer; a second scrub records nothing more.
	secdbWithMusl(t, data, true)
	if res, err := l.UpdateVulnDB(ctx, nil); err != nil || !res[0].Changed {
		t.Fatalf("update: %v %+v", err, res)
	}
	res, err = l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 1 || res.Rescanned != 0 || reads.Load() != 0 {
		t.Fatalf("scrub after new data: %+v, %d layer reads", res, reads.Load())
	}
	scans, _ := l.ListScans(ctx, local)
	if len(scans) != 2 {
		t.Fatalf("%d scans of %s, want 2", len(scans), local)
	}
	r2, err := l.Report(ctx, local, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Vulnerabilities) != 2 || r2.Vulnerabilities[0].ID != "CVE-2099-0001" {
		t.Errorf("scan 2 findings: %+v", r2.Vulnerabilities) // musl and musl-utils, both from origin musl
	}
	if res, _ := l.Scrub(ctx); res.Changed != 0 {
		t.Errorf("a second scrub recorded %d new scans", res.Changed)
	}

	// The tag moves to another image: scrub indexes the new manifest.
	reg.Push(t, "oci:"+layout+":alpine-3.20.3", "lib/alpine:moving", "")
	res, err = l.Scrub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rescanned != 1 || reads.Load() != 1 {
		t.Fatalf("scrub after the tag moved: %+v, %d layer reads", res, reads.Load())
	}
	ms, _ := l.ListScans(ctx, moving)
	if len(ms) != 2 || ms[0].ManifestDigest == ms[1].ManifestDigest {
		t.Fatalf("scans of the moved tag: %+v", ms)
	}

	// GC: keep one scan per image; manifests unseen for a day go, with the
	// layers only they used; nothing else.
	g, err := l.GC(ctx, Retention{KeepScans: 1, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g.Scans != 2 || g.Manifests != 0 {
		t.Errorf("gc: %+v, want 2 scans removed", g)
	}
	if s, _ := l.ListScans(ctx, local); len(s) != 1 || s[0].Index != 2 {
		t.Errorf("scans kept: %+v", s)
	}
	// A day and a half later, without scans or scrubs, every manifest is
	// unseen; the layers they used go an hour after.
	l.now = func() time.Time { return time.Now().Add(36 * time.Hour) }
	g, err = l.GC(ctx, Retention{KeepScans: 1, ManifestTTL: 24 * time.Hour, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The three manifests (alpine 3.11, and 3.13 and 3.20 behind the
	// moving tag), each a one-layer image.
	if g.Manifests != 3 || g.Layers != 3 {
		t.Errorf("gc a day and a half later: %+v, want 3 manifests and their 3 layers", g)
	}
	if _, err := l.ListScans(ctx, local); err == nil {
		t.Error("scans of a collected manifest remain")
	}
}
