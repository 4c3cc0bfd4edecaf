package csaf_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/csaf"
	"github.com/lapps/lapps/vuln"
)

func redHatSamples(t testing.TB) string {
	return testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rhel", "test-fixtures", "csaf")
}

// line is a record projected for comparison.
func line(r vuln.Record) string {
	var rg []string
	for _, x := range r.Ranges {
		rg = append(rg, x.Introduced+".."+x.Fixed)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|cves=%s|aliases=%s|%s/%s|%s", r.ID, r.Ecosystem, r.Package, r.Status,
		strings.Join(rg, ","), strings.Join(r.CVEs, ","), strings.Join(r.Aliases, ","), r.Severity, r.SourceSeverity, r.Justification)
}

func parse(t testing.TB, feed fs.FS) ([]vuln.Record, *updater.Skips) {
	t.Helper()
	sk := &updater.Skips{}
	recs, err := csaf.Parser{}.Parse(updater.WithSkips(context.Background(), sk), feed)
	if err != nil {
		t.Fatal(err)
	}
	return recs, sk
}

func byKey(recs []vuln.Record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		m[r.ID+" "+r.Ecosystem+" "+r.Package] = line(r)
	}
	return m
}

// TestRedHatSamples reads Red Hat's CSAF advisories (vunnel's fixtures):
// mainline products by CPE to Red Hat:N (EUS/AUS/E4S/TUS streams
// skipped, so RHSA-2024:0811 fixes sudo at the 9.3 build, not the 9.0
// EUS one), the smallest fix
// per advisory, ecosystem and package, epochs from the purl, module
// streams, known_not_affected with its flag, and a source RPM listed as
// not affected beside its fixed binary of the same name (the fix wins).
func TestRedHatSamples(t *testing.T) {
	recs, _ := parse(t, os.DirFS(redHatSamples(t)))
	got := byKey(recs)
	for k, want := range map[string]string{
		"RHSA-2024:0811 Red Hat:9 sudo":               "RHSA-2024:0811|Red Hat:9|sudo|fixed|0..1.9.5p2-10.el9_3|cves=CVE-2023-28486,CVE-2023-28487,CVE-2023-42465|aliases=|medium/Moderate|",
		"RHSA-2024:0811 Red Hat:8 sudo":               "RHSA-2024:0811|Red Hat:8|sudo|fixed|0..1.9.5p2-1.el8_9|cves=CVE-2023-28486,CVE-2023-28487,CVE-2023-42465|aliases=|medium/Moderate|",
		"RHSA-2023:7025 Red Hat:8 ruby":               "RHSA-2023:7025|Red Hat:8|ruby|fixed|2.5..2.5.9-111.module+el8.9.0+19193+435404ae|cves=CVE-2021-33621,CVE-2022-28739,CVE-2023-28755,CVE-2023-28756|aliases=|medium/Moderate|",
		"RHSA-2024:1431 Red Hat:8 ruby-libs":          "RHSA-2024:1431|Red Hat:8|ruby-libs|fixed|3.1..3.1.4-142.module+el8.9.0+21471+7d1e4a35|cves=CVE-2021-33621,CVE-2023-28755,CVE-2023-28756,CVE-2023-36617|aliases=|medium/Moderate|",
		"RHSA-2024:1431 Red Hat:8 rubygem-bigdecimal": "RHSA-2024:1431|Red Hat:8|rubygem-bigdecimal|fixed|0..3.1.1-142.module+el8.9.0+21471+7d1e4a35|cves=CVE-2021-33621,CVE-2023-28755,CVE-2023-28756,CVE-2023-36617|aliases=|medium/Moderate|",
		"CVE-2021-25220 Red Hat:6 bind-chroot":        "CVE-2021-25220|Red Hat:6|bind-chroot|not-affected||cves=|aliases=|medium/Moderate|vulnerable_code_not_present",
		"CVE-2025-40778 Red Hat:6 bind-devel":         "CVE-2025-40778|Red Hat:6|bind-devel|not-affected||cves=|aliases=|high/Important|vulnerable_code_not_present",
	} {
		if got[k] != want {
			t.Errorf("%s:\n got  %s\n want %s", k, got[k], want)
		}
	}
	if b := got["RHSA-2025:23414 Red Hat:6 bind"]; !strings.Contains(b, "|fixed|0..32:9.8.2-0.68.rc1.el6_10.17|") {
		t.Errorf("bind with epoch 32: %s", b)
	}
	if s, ok := got["CVE-2021-25220 Red Hat:6 bind"]; ok {
		t.Errorf("source rpm stated not affected beside its fixed binary kept: %s", s)
	}
	for _, r := range recs {
		if r.Status == vuln.StatusFixed && len(r.CVSS) == 0 {
			t.Errorf("%s %s: no CVSS", r.ID, r.Package)
			break
		}
	}
}

// ciqAdvisory and ciqVEX are documents in the shape of CIQ's (no purls;
// product versions named as NEVRAs).
const ciqAdvisory = `{"document":{"category":"csaf_security_advisory","title":"Important: openssl security update",
 "aggregate_severity":{"text":"Important"},
 "references":[{"category":"external","summary":"Rocky Linux Security Advisory RLSA-2025:1234","url":"https://errata.build.resf.org/RLSA-2025:1234"}],
 "tracking":{"id":"CRLSA-2025:1234","initial_release_date":"2025-01-02T00:00:00+00:00","current_release_date":"2025-01-03T00:00:00+00:00"}},
 "product_tree":{"branches":[{"category":"vendor","name":"CIQ","branches":[
  {"category":"product_family","name":"Rocky Linux from CIQ","branches":[
   {"category":"product_name","name":"Rocky Linux from CIQ 9.6","product":{"name":"Rocky Linux from CIQ 9.6","product_id":"rlc-9.6"}},
   {"category":"product_name","name":"Rocky Linux from CIQ 9.4","product":{"name":"Rocky Linux from CIQ 9.4","product_id":"rlc-9.4"}},
   {"category":"product_name","name":"CIQ LTS for Rocky Linux 9.2","product":{"name":"CIQ LTS for Rocky Linux 9.2","product_id":"lts-9.2"}}]},
  {"category":"architecture","name":"x86_64","branches":[
   {"category":"product_version","name":"openssl-1:3.2.2-6.el9_6.1.x86_64","product":{"name":"openssl-1:3.2.2-6.el9_6.1.x86_64","product_id":"openssl-1:3.2.2-6.el9_6.1.x86_64"}},
   {"category":"product_version","name":"openssl-1:3.0.7-28.el9_4.x86_64","product":{"name":"openssl-1:3.0.7-28.el9_4.x86_64","product_id":"openssl-1:3.0.7-28.el9_4.x86_64"}},
   {"category":"product_version","name":"openssl-1:3.0.7-20.el9_2.ciqlts.x86_64","product":{"name":"openssl-1:3.0.7-20.el9_2.ciqlts.x86_64","product_id":"openssl-1:3.0.7-20.el9_2.ciqlts.x86_64"}}]}]}],
 "relationships":[
  {"category":"default_component_of","full_product_name":{"name":"a","product_id":"rlc-9.6:openssl-1:3.2.2-6.el9_6.1.x86_64"},"product_reference":"openssl-1:3.2.2-6.el9_6.1.x86_64","relates_to_product_reference":"rlc-9.6"},
  {"category":"default_component_of","full_product_name":{"name":"b","product_id":"rlc-9.4:openssl-1:3.0.7-28.el9_4.x86_64"},"product_reference":"openssl-1:3.0.7-28.el9_4.x86_64","relates_to_product_reference":"rlc-9.4"},
  {"category":"default_component_of","full_product_name":{"name":"c","product_id":"lts-9.2:openssl-1:3.0.7-20.el9_2.ciqlts.x86_64"},"product_reference":"openssl-1:3.0.7-20.el9_2.ciqlts.x86_64","relates_to_product_reference":"lts-9.2"}]},
 "vulnerabilities":[
  {"cve":"CVE-2025-0001","product_status":{"fixed":["rlc-9.6:openssl-1:3.2.2-6.el9_6.1.x86_64","rlc-9.4:openssl-1:3.0.7-28.el9_4.x86_64","lts-9.2:openssl-1:3.0.7-20.el9_2.ciqlts.x86_64"]},
   "scores":[{"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8},"products":["rlc-9.6:openssl-1:3.2.2-6.el9_6.1.x86_64"]}],
   "threats":[{"category":"impact","details":"Critical"}]},
  {"cve":"CVE-2025-0002","product_status":{"fixed":["rlc-9.6:openssl-1:3.2.2-6.el9_6.1.x86_64"],"under_investigation":["rlc-9.4:openssl-1:3.0.7-28.el9_4.x86_64"]},
   "threats":[{"category":"impact","details":"Moderate"}]}]}`

const ciqVEX = `{"document":{"category":"csaf_vex","title":"CVE-2025-0001","tracking":{"id":"CVE-2025-0001","current_release_date":"2025-02-01T00:00:00+00:00"}},
 "product_tree":{"branches":[{"category":"vendor","name":"CIQ","branches":[
  {"category":"product_family","name":"Rocky Linux from CIQ","branches":[
   {"category":"product_name","name":"Rocky Linux 9.6 from CIQ","product":{"name":"Rocky Linux 9.6 from CIQ","product_id":"rlc-9.6"}}]},
  {"category":"architecture","name":"src","branches":[
   {"category":"product_version","name":"openssl-3.2.2-6.el9_6.1.src","product":{"name":"openssl-3.2.2-6.el9_6.1.src","product_id":"openssl-3.2.2-6.el9_6.1.src"}},
   {"category":"product_version","name":"kernel","product":{"name":"kernel","product_id":"kernel"}},
   {"category":"product_version","name":"curl","product":{"name":"curl","product_id":"curl"}},
   {"category":"product_version","name":"bash","product":{"name":"bash","product_id":"bash"}}]}]}],
 "relationships":[
  {"category":"default_component_of","full_product_name":{"name":"a","product_id":"rlc-9.6:openssl-3.2.2-6.el9_6.1.src"},"product_reference":"openssl-3.2.2-6.el9_6.1.src","relates_to_product_reference":"rlc-9.6"},
  {"category":"default_component_of","full_product_name":{"name":"b","product_id":"rlc-9.6:kernel"},"product_reference":"kernel","relates_to_product_reference":"rlc-9.6"},
  {"category":"default_component_of","full_product_name":{"name":"c","product_id":"rlc-9.6:curl"},"product_reference":"curl","relates_to_product_reference":"rlc-9.6"},
  {"category":"default_component_of","full_product_name":{"name":"d","product_id":"rlc-9.6:bash"},"product_reference":"bash","relates_to_product_reference":"rlc-9.6"}]},
 "vulnerabilities":[{"cve":"CVE-2025-0001",
  "product_status":{"fixed":["rlc-9.6:openssl-3.2.2-6.el9_6.1.src"],"known_not_affected":["rlc-9.6:kernel"],"known_affected":["rlc-9.6:curl","rlc-9.6:bash"]},
  "flags":[{"label":"vulnerable_code_not_present","product_ids":["rlc-9.6:kernel"]}],
  "remediations":[{"category":"no_fix_planned","details":"Will not fix","product_ids":["rlc-9.6:bash"]}],
  "threats":[{"category":"impact","details":"Low"}]}]}`

// TestCIQDocuments: products named without purls, the smallest fix of an
// advisory's Rocky Linux 9 products, CIQ LTS skipped and counted, the RLSA
// id as alias, statuses of a VEX document, and the VEX fixed statement
// that repeats the advisory dropped.
func TestCIQDocuments(t *testing.T) {
	recs, sk := parse(t, fstest.MapFS{
		"csaf/advisories/rocky/2025/crlsa-2025_1234.json": {Data: []byte(ciqAdvisory)},
		"csaf/vex/cve/2025/cve-2025-0001.json":            {Data: []byte(ciqVEX)},
		"mapping/cpe-product-keys.json":                   {Data: []byte(`{"mappings":{}}`)},
		"list.json":                                       {Data: []byte(`[1,2]`)},
		"README.md":                                       {Data: []byte("# x")},
	})
	var got []string
	for _, r := range recs {
		got = append(got, line(r))
	}
	want := []string{
		"CRLSA-2025:1234|Rocky Linux:9|openssl|fixed|0..1:3.0.7-28.el9_4|cves=CVE-2025-0001,CVE-2025-0002|aliases=RLSA-2025:1234|critical/Critical|",
		"CVE-2025-0001|Rocky Linux:9|bash|wont-fix||cves=|aliases=|low/Low|",
		"CVE-2025-0001|Rocky Linux:9|curl|unfixed||cves=|aliases=|low/Low|",
		"CVE-2025-0001|Rocky Linux:9|kernel|not-affected||cves=|aliases=|low/Low|vulnerable_code_not_present",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c := sk.Counts()
	if c[csaf.SkipProduct] != 1 || c[csaf.SkipInvestigation] != 1 || c[csaf.SkipDuplicate] != 1 || c[csaf.SkipDocument] != 1 {
		t.Errorf("skips %v", c)
	}
	if r := recs[0]; len(r.CVSS) != 1 || r.CVSS[0].Score != 9.8 {
		t.Errorf("cvss %+v", r.CVSS)
	}
}

// tarZst packs files into a zstd-compressed tar.
func tarZst(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// TestArchives: the same documents as a tar.zst (streamed), inside a zip
// (through Fetch) and in a directory give the same records.
func TestArchives(t *testing.T) {
	files := map[string]string{"a/crlsa.json": ciqAdvisory, "b/cve.json": ciqVEX}
	want, _ := parse(t, fstest.MapFS{"a/crlsa.json": {Data: []byte(ciqAdvisory)}, "b/cve.json": {Data: []byte(ciqVEX)}})
	dir := t.TempDir()
	tz := filepath.Join(dir, "csaf_vex_2025-01-01.tar.zst")
	if err := os.WriteFile(tz, tarZst(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for n, s := range files {
		w, _ := zw.Create(n)
		w.Write([]byte(s))
	}
	zw.Close()
	zp := filepath.Join(dir, "advisories.zip")
	if err := os.WriteFile(zp, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{tz, zp} {
		feed, err := updater.Fetch(context.Background(), updater.Source{Name: "t", Type: "csaf", Path: p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := parse(t, feed.FS)
		feed.Close()
		if !slices.EqualFunc(got, want, func(a, b vuln.Record) bool { return line(a) == line(b) }) {
			t.Errorf("%s: %d records, want %d", filepath.Base(p), len(got), len(want))
		}
	}
}

// TestBounds: each bound crossed by a generated feed fails the parse with
// a *limits.Error naming its key.
func TestBounds(t *testing.T) {
	big := `{"document":{"category":"csaf_vex","title":"` + strings.Repeat("x", 4096) + `","tracking":{"id":"CVE-1"}}}`
	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("d%02d.json", i)] = ciqVEX
	}
	for _, tc := range []struct {
		name  string
		lim   updater.Limits
		files map[string]string
		key   string
	}{
		{"document in the archive", updater.Limits{DocumentBytes: 1024}, map[string]string{"a.json": big}, updater.KeyMaxDocumentBytes},
		{"decompressed archive", updater.Limits{FeedBytes: 16 << 10}, many, updater.KeyMaxFeedBytes},
		{"archive entries", updater.Limits{Files: 5}, many, updater.KeyMaxFiles},
		{"token", updater.Limits{TokenBytes: 1000}, map[string]string{"a.json": big}, updater.KeyMaxTokenBytes},
		{"depth", updater.Limits{JSONDepth: 5}, map[string]string{"a.json": ciqVEX}, updater.KeyMaxJSONDepth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "feed.tar.zst")
			if err := os.WriteFile(p, tarZst(t, tc.files), 0o644); err != nil {
				t.Fatal(err)
			}
			src := updater.Source{Name: "t", Type: "csaf", Path: p, MaxDocumentBytes: limits.ByteSize(tc.lim.DocumentBytes),
				MaxFeedBytes: limits.ByteSize(tc.lim.FeedBytes), MaxFiles: tc.lim.Files, MaxTokenBytes: limits.ByteSize(tc.lim.TokenBytes), MaxJSONDepth: tc.lim.JSONDepth}
			feed, err := updater.Fetch(context.Background(), src, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer feed.Close()
			_, err = csaf.Parser{}.Parse(context.Background(), feed.FS)
			var le *limits.Error
			if !errors.As(err, &le) || le.Key != tc.key {
				t.Fatalf("err = %v, want a limits error of %s", err, tc.key)
			}
		})
	}
	// A document of the feed's own directory is bounded too.
	_, err := csaf.Parser{}.Parse(context.Background(), limitedFS{fstest.MapFS{"a.json": {Data: []byte(big)}}, updater.Limits{DocumentBytes: 1024}})
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != updater.KeyMaxDocumentBytes {
		t.Fatalf("err = %v", err)
	}
}

type limitedFS struct {
	fs.FS
	lim updater.Limits
}

func (l limitedFS) Limits() updater.Limits { return l.lim }

// TestEmptyFeed: a feed without a CSAF document is an error, not an empty
// update that would delete the source's data.
func TestEmptyFeed(t *testing.T) {
	if _, err := (csaf.Parser{}).Parse(context.Background(), fstest.MapFS{"index.txt": {Data: []byte("x")}}); err == nil {
		t.Fatal("no error")
	}
}

func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(ciqAdvisory))
	f.Add([]byte(ciqVEX))
	if p, err := os.ReadFile(filepath.Join(redHatSamples(f), "advisories", "2024", "rhsa-2024_6163.json")); err == nil {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := csaf.ParseDocument(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Ecosystem == "" || r.Package == "" {
				t.Fatalf("record without id, ecosystem or package: %+v", r)
			}
			for _, rg := range r.Ranges {
				if rg.Fixed == "" {
					t.Fatalf("fixed range without a fix: %+v", r)
				}
			}
		}
	})
}

// TestAdvisoryInTwoDocuments: an advisory's fixes are emitted as its
// document is read, so one advisory id in two documents is emitted
// twice; Parse and a streamed run (ParseStream, merged by Merge as the
// updater's spill file does) both give one record per package, the
// smallest fix of either document with the CVEs of both, whatever the
// order of the documents, and the VEX fix both advisories repeat is
// still dropped.
func TestAdvisoryInTwoDocuments(t *testing.T) {
	second := strings.NewReplacer("3.0.7-28.el9_4", "3.0.7-27.el9_4", "CVE-2025-0002", "CVE-2025-0003").Replace(ciqAdvisory)
	want := "CRLSA-2025:1234|Rocky Linux:9|openssl|fixed|0..1:3.0.7-27.el9_4|cves=CVE-2025-0001,CVE-2025-0002,CVE-2025-0003|aliases=RLSA-2025:1234|critical/Critical|"
	for _, names := range [][2]string{{"a.json", "b.json"}, {"b.json", "a.json"}} {
		feed := fstest.MapFS{
			"csaf/advisories/" + names[0]: {Data: []byte(ciqAdvisory)},
			"csaf/advisories/" + names[1]: {Data: []byte(second)},
			"csaf/vex/cve-2025-0001.json": {Data: []byte(ciqVEX)},
		}
		recs, sk := parse(t, feed)
		got := byKey(recs)
		if g := got["CRLSA-2025:1234 Rocky Linux:9 openssl"]; g != want {
			t.Errorf("%v: Parse gives\n%s\nwant\n%s", names, g, want)
		}
		if n := sk.Counts()[csaf.SkipDuplicate]; n != 1 {
			t.Errorf("%v: %d duplicates skipped, want 1 (the VEX fix of openssl)", names, n)
		}
		// The streamed run: records of one key merged by Merge, in the
		// order they were emitted.
		groups := map[string][]vuln.Record{}
		var order []string
		emitted := 0
		err := csaf.Parser{}.ParseStream(context.Background(), feed, func(r vuln.Record) error {
			emitted++
			k := r.Key()
			if groups[k] == nil {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if emitted != len(recs)+1 {
			t.Errorf("%v: %d records emitted, want %d (the advisory's fix twice)", names, emitted, len(recs)+1)
		}
		var streamed []vuln.Record
		for _, k := range order {
			streamed = append(streamed, csaf.Parser{}.Merge(groups[k]))
		}
		if s := byKey(streamed); !maps.Equal(s, got) {
			t.Errorf("%v: streamed\n%v\nParse\n%v", names, s, got)
		}
	}
}
