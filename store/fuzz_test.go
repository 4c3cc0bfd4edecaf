package store

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// The fuzz targets of this file feed what the engines decode from stored
// bytes (a database is written by other processes, other versions of
// lapps, and whoever can write its file): nothing may panic, and what
// decodes encodes back to the same value.

func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `["a","b"]`, `[1,2]`, `["\u0000"]`, `[`, `{}`, `"x"`, `[[]]`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strs, err := DecodeList[string](s)
		if err == nil {
			enc, err := EncodeList(strs)
			if err != nil {
				t.Fatalf("EncodeList(%q): %v", strs, err)
			}
			again, err := DecodeList[string](enc)
			if err != nil || !slices.Equal(again, strs) {
				t.Fatalf("round trip of %q: %q, %v", strs, again, err)
			}
			if len(strs) == 0 && strs != nil {
				t.Fatalf("DecodeList(%q) = empty, not nil", s)
			}
		}
		if ints, err := DecodeList[int](s); err == nil {
			enc, err := EncodeList(ints)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := DecodeList[int](enc); err != nil || !slices.Equal(again, ints) {
				t.Fatalf("round trip of %v: %v, %v", ints, again, err)
			}
		}
	})
}

func FuzzDecodeRun(f *testing.F) {
	for _, s := range []string{
		`{"started_at":"2024-05-01T06:00:00Z","duration_ns":2500000000,"operation":3,"validators":{"ETag":"\"5f3a\""}}`,
		`{"started_at":"2024-05-01T06:00:00+02:00","duration_ns":1,"error":"fetch: 503"}`,
		`{"started_at":"0001-01-01T00:00:00Z"}`,
		`{"started_at":"2024-05-01T06:00:00Z","validators":{}}`,
		`{}`, `null`, `[]`, `{"duration_ns":1e3}`, `{"started_at":"9999-12-31T23:59:59.999999999-23:59"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := DecodeRun("src", data)
		if err != nil {
			return
		}
		if run.Source != "src" {
			t.Fatalf("source %q", run.Source)
		}
		if run.StartedAt.IsZero() {
			return // EncodeRun refuses it, as RecordRun does
		}
		enc, err := EncodeRun(run)
		if err != nil {
			return // a time JSON cannot hold (a year beyond 9999 after UTC)
		}
		again, err := DecodeRun("src", enc)
		if err != nil {
			t.Fatalf("decode %s, encoded from %s: %v", enc, data, err)
		}
		if !again.StartedAt.Equal(run.StartedAt) || again.Duration != run.Duration || again.Err != run.Err ||
			again.Operation != run.Operation || !maps.Equal(again.Validators, run.Validators) {
			t.Fatalf("round trip of %s: %+v, then %+v", data, run, again)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	full, err := json.Marshal(vuln.Record{
		ID: "CVE-2023-4911", Aliases: []string{"DSA-5514-1"}, Source: "debian-tracker", Ecosystem: "Debian:12", Package: "glibc",
		Ranges: []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: "2.36-9+deb12u3"}}, Versions: []string{"2.36-9"},
		Status: vuln.StatusFixed, Severity: vuln.SeverityHigh, CVSS: []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:L", Score: 7.8}},
		Links:     []string{"https://security-tracker.debian.org/tracker/CVE-2023-4911"},
		Published: time.Date(2023, 10, 3, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(full), `{}`, `null`, `{"severity":"high"}`, `{"severity":99}`, `{"status":"x"}`, `{"published":"x"}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeRecords([][]byte{data, data})
		cache := NewRecordCache(4)
		first, cerr := cache.Decode([]byte("h"), data)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("DecodeRecords: %v; RecordCache.Decode: %v", err, cerr)
		}
		if err != nil {
			return
		}
		if len(recs) != 2 || !reflect.DeepEqual(recs[0], recs[1]) || !reflect.DeepEqual(recs[0], first) {
			t.Fatalf("decodings of %s differ: %+v, %+v", data, recs, first)
		}
		// The cache hands out copies: changing one changes no other.
		want := clone(&first)
		for i := range first.Aliases {
			first.Aliases[i] = "changed"
		}
		for i := range first.Ranges {
			first.Ranges[i].Fixed = "changed"
		}
		for i := range first.CVSS {
			first.CVSS[i].Score = -1
		}
		first.Versions = append(first.Versions[:0], "changed")
		second, err := cache.Decode([]byte("h"), nil) // from the cache
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(second, want) {
			t.Fatalf("the cached record changed with a copy handed out: %+v, want %+v", second, want)
		}
	})
}

func FuzzIndexCache(f *testing.F) {
	full, err := json.Marshal(model.ImageIndex{
		ManifestDigest: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		Distribution:   &vuln.Distribution{ID: "debian", VersionID: "12"},
		Layers:         []model.LayerInfo{{Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}},
		Packages:       []vuln.Package{{Name: "libc6", Version: "2.36-9", Kind: "deb", SourceName: "glibc"}},
		OSOwned:        []vuln.Package{{Name: "x"}},
		Warnings:       []string{"usr/lib/x: truncated"},
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(full), `{}`, `null`, `{"packages":[{}]}`, `{"distribution":{}}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewIndexCache(2)
		first, err := c.Decode(data)
		if err != nil {
			return
		}
		want, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		// Change the copy handed out; the cached index must not change.
		for i := range first.Packages {
			first.Packages[i].Name = "changed"
		}
		for i := range first.OSOwned {
			first.OSOwned[i].Name = "changed"
		}
		for i := range first.Layers {
			first.Layers[i].Digest = "changed"
		}
		for i := range first.Warnings {
			first.Warnings[i] = "changed"
		}
		if first.Distribution != nil {
			first.Distribution.ID = "changed"
		}
		second, err := c.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(second)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("the cached index changed with a copy handed out:\n%s\nwant\n%s", got, want)
		}
	})
}
