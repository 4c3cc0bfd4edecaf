package updater_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// FuzzFeed gives every parser an arbitrary local file as its feed, a zip
// archive being opened as the feed's tree, within small bounds: the path
// of an import, as far as the store. No parser may panic (the run would
// recover it, so the parsers are called directly here), and a bound
// crossed is a *limits.Error. Seeds are real excerpts of each feed,
// zipped, and the 181-byte zip. Each input runs six parsers: run
// it with a short -fuzzminimizetime (e.g. 2s), or the minimization of each
// new input takes the default minute.
func FuzzFeed(f *testing.F) {
	data := testenv.VulnData(f)
	read := func(p string, n int) []byte {
		b, err := os.ReadFile(filepath.Join(data, p))
		if err != nil {
			f.Fatal(err)
		}
		return b[:min(n, len(b))]
	}
	seeds := []zipEntry{
		{name: "GO-2020-0001.json", data: read("golang-vulndb/data/osv/GO-2020-0001.json", 1<<20)},
		{name: "vulns/urllib3/PYSEC-2017-98.yaml", data: read("pypa-advisory-database/vulns/urllib3/PYSEC-2017-98.yaml", 1<<20)},
		{name: "v3.11/main.yaml", data: read("alpine-secdb/v3.11/main.yaml", 3000)},
		{name: "security.json", data: read("vunnel-format-samples/tests/unit/providers/wolfi/test-fixtures/input/secdb/security.json", 1<<20)},
		{name: "json", data: read("vunnel-format-samples/tests/unit/providers/debian/test-fixtures/input/debian.json", 1<<20)},
		{name: "DSA/list", data: read("debian-security-tracker/data/DSA/list", 3000)},
		{name: "active/CVE-2019-1551", data: read("ubuntu-cve-tracker/active/CVE-2019-1551", 1<<20)},
		{name: "crates/tokio/RUSTSEC-2021-0072.md", data: read("rustsec-advisory-db/crates/tokio/RUSTSEC-2021-0072.md", 1<<20)},
	}
	for _, s := range seeds {
		f.Add(makeZip(f, s))
		f.Add(s.data)
	}
	f.Add(makeZip(f, seeds...))
	f.Add(makeZip(f, zipEntry{name: "v3.19/main.json", data: []byte(`{"distroversion":"v3.19","reponame":"main","packages":[]}`), claim: 1<<63 - 1}))
	f.Add(makeZip(f, zipEntry{name: "a.json", data: []byte(`{"id":"A"`), fill: ' ', n: 300 << 10}))

	types := updater.Types()
	lim := updater.Source{MaxFileBytes: 1 << 20, MaxFeedBytes: 4 << 20, MaxFiles: 64, MaxDocumentBytes: 256 << 10,
		MaxYAMLBytes: 64 << 10, MaxTokenBytes: 64 << 10, MaxJSONDepth: 32}
	f.Fuzz(func(t *testing.T, feed []byte) {
		p := filepath.Join(t.TempDir(), "feed.json")
		if err := os.WriteFile(p, feed, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, typ := range types {
			parser, err := updater.Lookup(typ)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := parser.(panicky); ok {
				continue
			}
			if _, ok := parser.(boomParser); ok {
				continue
			}
			src := lim
			src.Name, src.Type, src.Path = "fuzz", typ, p
			fd, err := updater.Fetch(context.Background(), src, nil, quiet)
			if err != nil {
				checkBoundError(t, err)
				continue
			}
			_, err = parser.Parse(context.Background(), fd.FS)
			checkBoundError(t, err)
			if err := fd.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkBoundError fails on a limit error that is not a *limits.Error with
// a key.
func checkBoundError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, limits.ErrExceeded) {
		return
	}
	var le *limits.Error
	if !errors.As(err, &le) || le.Key == "" || le.Limit <= 0 {
		t.Fatalf("bound error %v without its key", err)
	}
}
