package updater_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

var quiet = updater.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// fast keeps retries quick in tests.
var fast = updater.WithBackoff(time.Millisecond, 5*time.Millisecond)

// TestRunAlmaLinuxOverHTTP runs the AlmaLinux 9 advisories, zipped as
// OSV.dev's all.zip, through the whole path: HTTP, conditional requests,
// fingerprints, corrupt feeds, pruning.
func TestRunAlmaLinuxOverHTTP(t *testing.T) {
	dir := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	pairs, keys, _ := osvCounts(t, dir)
	all := zipFiles(t, dir, "", nil)
	srv := newFeedServer(t)
	srv.set("/AlmaLinux/all.zip", all)
	st := newFakeStore()
	src := updater.Source{Name: "osv-almalinux", Type: "osv", URLs: []string{srv.URL + "/AlmaLinux/all.zip"}}
	ctx := context.Background()
	opts := []updater.Option{quiet, fast, updater.WithKeep(2)}

	// First run: everything is new.
	run, err := updater.Run(ctx, st, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if run.Operation == 0 {
		t.Fatal("first run created no update operation")
	}
	ops, _ := st.UpdateOperations(ctx, src.Name)
	t.Logf("almalinux9: %d (record, package) pairs, %d distinct keys", pairs, keys)
	if ops[0].Records != keys {
		t.Errorf("records = %d, want %d distinct (id, ecosystem, package) keys", ops[0].Records, keys)
	}
	if h := srv.lastRequest(); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("first request was conditional: %v", h)
	}
	firefox, _ := st.Records(ctx, "AlmaLinux:9", []string{"firefox"})
	if len(firefox) == 0 {
		t.Fatal("no AlmaLinux:9 firefox records")
	}
	for _, r := range firefox {
		if r.Source != src.Name || r.Status != vuln.StatusFixed || r.Severity == vuln.SeverityUnknown {
			t.Errorf("firefox record %s: source %q status %q severity %s", r.ID, r.Source, r.Status, r.Severity)
		}
	}

	// Second run: the server answers 304; no new operation.
	run, err = updater.Run(ctx, st, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.lastRequest()
	if h.Get("If-None-Match") == "" || h.Get("If-Modified-Since") == "" {
		t.Errorf("second request not conditional: %v", h)
	}
	if run.Operation != 0 || st.opCount(src.Name) != 1 {
		t.Errorf("304 created an update operation (op %d, %d ops)", run.Operation, st.opCount(src.Name))
	}
	if len(run.Validators) == 0 {
		t.Error("a 304 run dropped the validators")
	}

	// Third run: a server without validators sends the same bytes; the
	// fingerprint says unchanged.
	srv.noValidators = true
	run, err = updater.Run(ctx, st, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if run.Operation != 0 || st.opCount(src.Name) != 1 {
		t.Errorf("same content created an update operation")
	}
	srv.noValidators = false

	// A truncated zip fails the run; the data stays.
	srv.set("/AlmaLinux/all.zip", all[:len(all)/2])
	if _, err = updater.Run(ctx, st, src, opts...); err == nil {
		t.Fatal("truncated zip: no error")
	}
	if r := st.lastRun(t, src.Name); r.Err == "" || r.Operation != 0 || len(r.Validators) != 0 {
		t.Errorf("failed run recorded as %+v", r)
	}
	if got, _ := st.Records(ctx, "AlmaLinux:9", []string{"firefox"}); len(got) != len(firefox) || st.opCount(src.Name) != 1 {
		t.Errorf("after a failed run: %d firefox records (want %d), %d operations", len(got), len(firefox), st.opCount(src.Name))
	}

	// A zip holding one corrupt record fails too, naming the file.
	corrupt := zipWith(t, all, "ALSA-2024:0001.json", []byte(`{"id": "ALSA-2024:0001", "affected": [`))
	srv.set("/AlmaLinux/all.zip", corrupt)
	_, err = updater.Run(ctx, st, src, opts...)
	if err == nil || !strings.Contains(err.Error(), "ALSA-2024:0001.json") {
		t.Fatalf("corrupt record: error %v does not name the file", err)
	}
	if st.opCount(src.Name) != 1 {
		t.Error("corrupt feed created an update operation")
	}

	// Upstream drops an advisory: a new operation without it; with keep 2
	// the oldest goes once a third exists.
	var dropped string
	smaller := zipFilter(t, all, func(name string) bool {
		if dropped == "" && strings.HasPrefix(name, "ALSA-2023") {
			dropped = strings.TrimSuffix(name, ".json")
			return false
		}
		return true
	})
	srv.set("/AlmaLinux/all.zip", smaller)
	run, err = updater.Run(ctx, st, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if run.Operation == 0 {
		t.Fatal("changed feed created no update operation")
	}
	ops, _ = st.UpdateOperations(ctx, src.Name)
	if ops[0].Records >= keys {
		t.Errorf("records after dropping %s: %d, want fewer than %d", dropped, ops[0].Records, keys)
	}
	for _, r := range st.records[ops[0].ID] {
		if r.ID == dropped {
			t.Fatalf("dropped advisory %s still stored", dropped)
		}
	}
	srv.set("/AlmaLinux/all.zip", all)
	if _, err = updater.Run(ctx, st, src, opts...); err != nil {
		t.Fatal(err)
	}
	if n := st.opCount(src.Name); n != 2 {
		t.Errorf("%d operations kept, want 2", n)
	}
}

// zipWith returns a copy of a zip archive with one file replaced or added.
func zipWith(t *testing.T, archive []byte, name string, data []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if f.Name == name {
			continue
		}
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create(name)
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipFilter returns a copy of a zip archive with the files keep accepts.
func zipFilter(t *testing.T, archive []byte, keep func(string) bool) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]*zip.File, len(zr.File))
	copy(names, zr.File)
	slices.SortFunc(names, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range names {
		if keep(f.Name) {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRunGoVulnDB serves the Go vulnerability database as vuln.go.dev's
// vulndb.zip lays it out: ID/GO-….json beside index/db.json,
// index/vulns.json and index/modules.json, which are not records.
func TestRunGoVulnDB(t *testing.T) {
	dir := testenv.VulnData(t, "golang-vulndb", "data", "osv")
	pairs, keys, withdrawn := osvCounts(t, dir)
	archive := zipFiles(t, dir, "ID/", nil)
	archive = zipWith(t, archive, "index/db.json", []byte(`{"modified":"2024-05-01T00:00:00Z"}`))
	archive = zipWith(t, archive, "index/vulns.json", []byte(`[{"id":"GO-2020-0001","modified":"2024-05-01T00:00:00Z","aliases":["CVE-2020-36567"]}]`))
	archive = zipWith(t, archive, "index/modules.json", []byte(`[{"path":"github.com/gin-gonic/gin","vulns":[{"id":"GO-2020-0001","modified":"2024-05-01T00:00:00Z","fixed":"1.6.0"}]}]`))
	srv := newFeedServer(t)
	srv.set("/vulndb.zip", archive)
	st := newFakeStore()
	src := updater.Source{Name: "go-vulndb", Type: "osv", URLs: []string{srv.URL + "/vulndb.zip"}}
	run, err := updater.Run(context.Background(), st, src, quiet)
	if err != nil {
		t.Fatal(err)
	}
	recs := st.records[run.Operation]
	t.Logf("golang-vulndb: %d pairs, %d keys, %d withdrawn", pairs, keys, len(withdrawn))
	if len(recs) != keys {
		t.Errorf("records = %d, want %d", len(recs), keys)
	}
	if len(withdrawn) == 0 {
		t.Fatal("no withdrawn records in the data: the check below tests nothing")
	}
	ids := map[string]bool{}
	stdlib := 0
	for _, r := range recs {
		ids[r.ID] = true
		if r.Package == "stdlib" {
			stdlib++
		}
		if r.Ecosystem != vuln.EcosystemGo {
			t.Errorf("%s: ecosystem %q", r.ID, r.Ecosystem)
		}
	}
	for _, w := range withdrawn {
		if ids[w] {
			t.Errorf("withdrawn %s stored", w)
		}
	}
	if stdlib == 0 {
		t.Error("no stdlib records")
	}
}

// TestImportLocal imports local copies (air-gapped) through Import: the
// PyPA YAML tree, the GitHub advisory subset, and single files.
func TestImportLocal(t *testing.T) {
	tests := []struct {
		name string
		path []string
	}{
		{"pypa", []string{"pypa-advisory-database", "vulns"}},
		{"ghsa", []string{"github-advisory-database", "advisories"}},
		{"rocky", []string{"vunnel-format-samples", "tests", "unit", "providers", "rocky", "test-fixtures", "osv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.VulnData(t, tt.path...)
			pairs, keys, withdrawn := osvCounts(t, dir)
			st := newFakeStore()
			run, err := updater.Import(context.Background(), st, "osv", dir, "", quiet)
			if err != nil {
				t.Fatal(err)
			}
			if run.Source != "import-osv" {
				t.Errorf("source %q", run.Source)
			}
			recs := st.records[run.Operation]
			// Affected packages whose every range is malformed give no
			// record (PyPA has two fixed in versions PEP 440 cannot order).
			var sk updater.Skips
			if _, err := (osv.Parser{}).Parse(updater.WithSkips(context.Background(), &sk), os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			dropped := sk.Counts()["osv: affected package left without a valid range or version"]
			t.Logf("%s: %d pairs, %d keys, %d withdrawn, %d dropped", tt.name, pairs, keys, len(withdrawn), dropped)
			if len(recs)+dropped != keys {
				t.Errorf("records = %d and %d dropped, want %d", len(recs), dropped, keys)
			}
			// Importing the same data again changes nothing.
			again, err := updater.Import(context.Background(), st, "osv", dir, "", quiet)
			if err != nil || again.Operation != 0 {
				t.Errorf("second import: op %d, err %v", again.Operation, err)
			}
		})
	}
}

// TestRunSamplesManyURLs serves the Ubuntu, Rocky and Chainguard/Wolfi
// OSV samples as one source of many URLs (the chainguard all.json index
// among them).
func TestRunSamplesManyURLs(t *testing.T) {
	base := testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers")
	srv := newFeedServer(t)
	var urls []string
	wantPairs, wantKeys := 0, 0
	for _, sub := range []string{"ubuntu/test-fixtures/osv", "ubuntu/test-fixtures/osv-esm-cases", "rocky/test-fixtures/osv", "chainguard/test-fixtures/input/osv"} {
		dir := filepath.Join(base, sub)
		p, k, _ := osvCounts(t, dir)
		wantPairs += p
		wantKeys += k
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			u := "/" + filepath.ToSlash(rel)
			srv.set(u, data)
			urls = append(urls, srv.URL+u)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	st := newFakeStore()
	src := updater.Source{Name: "samples", Type: "osv", URLs: urls}
	run, err := updater.Run(context.Background(), st, src, quiet)
	if err != nil {
		t.Fatal(err)
	}
	recs := st.records[run.Operation]
	t.Logf("samples: %d URLs, %d pairs, %d keys", len(urls), wantPairs, wantKeys)
	if len(recs) != wantKeys {
		t.Errorf("records = %d, want %d", len(recs), wantKeys)
	}
	ecos := map[string]bool{}
	for _, r := range recs {
		ecos[r.Ecosystem] = true
	}
	for _, want := range []string{"Ubuntu:22.04", "Ubuntu:Pro:18.04", "Ubuntu:25.10", "Rocky Linux:9", "Rocky Linux:8", "Wolfi", "Chainguard"} {
		if !ecos[want] {
			t.Errorf("no records of ecosystem %s (have %v)", want, ecos)
		}
	}
	// Every URL unchanged: all answer 304.
	before := srv.requestCount()
	run, err = updater.Run(context.Background(), st, src, quiet)
	if err != nil || run.Operation != 0 {
		t.Fatalf("second run: op %d, err %v", run.Operation, err)
	}
	if got := srv.requestCount() - before; got != len(urls) {
		t.Errorf("second run made %d requests, want %d (one conditional request each)", got, len(urls))
	}
}

// TestRunAllIsolation runs a failing source beside a good one.
func TestRunAllIsolation(t *testing.T) {
	dir := testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rocky", "test-fixtures", "osv")
	srv := newFeedServer(t)
	st := newFakeStore()
	sources := []updater.Source{
		{Name: "missing", Type: "osv", URLs: []string{srv.URL + "/nothing/all.zip"}},
		{Name: "rocky", Type: "osv", Path: dir},
		{Name: "bad-type", Type: "no-such-type", Path: dir},
	}
	res := updater.RunAll(context.Background(), st, sources, quiet, fast)
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "404") {
		t.Errorf("missing: err %v", res[0].Err)
	}
	if res[1].Err != nil || !res[1].Changed || res[1].Records == 0 {
		t.Errorf("rocky: %+v", res[1])
	}
	if res[2].Err == nil {
		t.Error("unknown type: no error")
	}
	if r := st.lastRun(t, "missing"); r.Err == "" {
		t.Error("failed run not recorded with its error")
	}
}

// TestRunDedupes: OSV records that list one package in several affected
// entries become one record with all ranges.
func TestRunDedupes(t *testing.T) {
	dir := t.TempDir()
	rec := map[string]any{
		"id": "GHSA-test-0001", "aliases": []string{"CVE-2024-0001"},
		"affected": []any{
			map[string]any{"package": map[string]any{"ecosystem": "PyPI", "name": "Jinja2"},
				"ranges": []any{map[string]any{"type": "ECOSYSTEM", "events": []any{map[string]any{"introduced": "0"}, map[string]any{"fixed": "2.11.3"}}}}},
			map[string]any{"package": map[string]any{"ecosystem": "PyPI", "name": "jinja2"},
				"ranges": []any{map[string]any{"type": "ECOSYSTEM", "events": []any{map[string]any{"introduced": "3.0.0"}, map[string]any{"fixed": "3.0.1"}}}}},
		},
	}
	data, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(dir, "GHSA-test-0001.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	st := newFakeStore()
	run, err := updater.Import(context.Background(), st, "osv", dir, "t", quiet)
	if err != nil {
		t.Fatal(err)
	}
	recs := st.records[run.Operation]
	if len(recs) != 1 || len(recs[0].Ranges) != 2 || recs[0].Package != "jinja2" {
		t.Fatalf("records: %+v", recs)
	}
}

// TestRunSQLite runs a real feed into the SQLite store: the first run, an
// unchanged run, a corrupt feed that leaves the data alone, and a change
// the store can diff.
func TestRunSQLite(t *testing.T) {
	dir := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	_, keys, _ := osvCounts(t, dir)
	all := zipFiles(t, dir, "", nil)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := newFeedServer(t)
	srv.set("/AlmaLinux/all.zip", all)
	src := updater.Source{Name: "osv-almalinux", Type: "osv", URLs: []string{srv.URL + "/AlmaLinux/all.zip"}}

	first, err := updater.Run(ctx, st, src, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := st.UpdateOperations(ctx, src.Name)
	if err != nil || len(ops) != 1 || ops[0].Records != keys {
		t.Fatalf("operations %+v (want one of %d records), err %v", ops, keys, err)
	}
	before, err := st.Records(ctx, "AlmaLinux:9", []string{"firefox", "openssl", "kernel"})
	if err != nil || len(before) == 0 {
		t.Fatalf("records: %d, err %v", len(before), err)
	}

	second, err := updater.Run(ctx, st, src, quiet)
	if err != nil || second.Operation != 0 {
		t.Fatalf("unchanged run: op %d, err %v", second.Operation, err)
	}
	statuses, _ := st.SourceStatuses(ctx)
	if s := findStatus(statuses, src.Name); s == nil || s.LastRun == nil || len(s.LastRun.Validators) == 0 || s.Latest == nil || s.Latest.ID != first.Operation {
		t.Fatalf("status after 304: %+v", s)
	}

	srv.set("/AlmaLinux/all.zip", zipWith(t, all, "ALSA-2024:9999.json", []byte("{not json")))
	if _, err := updater.Run(ctx, st, src, quiet); err == nil {
		t.Fatal("corrupt feed: no error")
	}
	statuses, _ = st.SourceStatuses(ctx)
	if s := findStatus(statuses, src.Name); s == nil || s.LastRun == nil || s.LastRun.Err == "" || s.Latest == nil || s.Latest.ID != first.Operation {
		t.Fatalf("status after a corrupt feed: %+v", s)
	}
	after, _ := st.Records(ctx, "AlmaLinux:9", []string{"firefox", "openssl", "kernel"})
	if len(after) != len(before) {
		t.Errorf("records after a failed run: %d, want %d", len(after), len(before))
	}

	// Drop the firefox advisories: the diff lists them as removed.
	srv.set("/AlmaLinux/all.zip", zipFilter(t, all, func(name string) bool {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		return !bytes.Contains(data, []byte(`"name": "firefox"`))
	}))
	third, err := updater.Run(ctx, st, src, quiet)
	if err != nil || third.Operation == 0 {
		t.Fatalf("changed feed: op %d, err %v", third.Operation, err)
	}
	diff, err := st.DiffUpdates(ctx, first.Operation, third.Operation)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff.Removed) == 0 || len(diff.Added) != 0 {
		t.Fatalf("diff: %d added, %d removed, %d changed", len(diff.Added), len(diff.Removed), len(diff.Changed))
	}
	for _, r := range diff.Removed {
		if r.Source != src.Name {
			t.Errorf("removed record of source %q", r.Source)
		}
	}
	if ff, _ := st.Records(ctx, "AlmaLinux:9", []string{"firefox"}); len(ff) != 0 {
		t.Errorf("%d firefox records left", len(ff))
	}
}

func findStatus(ss []store.SourceStatus, name string) *store.SourceStatus {
	for i := range ss {
		if ss[i].Source == name {
			return &ss[i]
		}
	}
	return nil
}
