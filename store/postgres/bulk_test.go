package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// bulkIndexes are manifests whose rows take every path of manifestRows:
// layers, packages with and without source names, a source name shared
// by two packages and equal to another's name, two kinds, a name holding
// a NUL byte and invalid UTF-8 (txt), and a manifest without
// distribution, layers or packages.
func bulkIndexes() []*model.ImageIndex {
	var out []*model.ImageIndex
	for i := range 3 {
		idx := &model.ImageIndex{
			ManifestDigest: fmt.Sprintf("sha256:%064d", i+1),
			IndexerVersion: "7",
			Distribution:   &vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm"},
			Layers:         []model.LayerInfo{{Digest: "sha256:" + strings.Repeat("a", 64)}, {Digest: fmt.Sprintf("sha256:%064d", 100+i)}},
			Packages: []vuln.Package{
				{Kind: vuln.KindDeb, Name: "curl", Version: "7.88.1-10", SourceName: "curl", SourceVersion: "7.88.1-10"},
				{Kind: vuln.KindDeb, Name: "libcurl4", Version: "7.88.1-10", SourceName: "curl", SourceVersion: "7.88.1-10"},
				{Kind: vuln.KindDeb, Name: "bash", Version: fmt.Sprintf("5.2-%d", i)},
				{Kind: vuln.KindDeb, Name: "odd\x00na\xffme", Version: "1"},
				{Kind: "golang", Name: "golang.org/x/net", Version: "v0.1.0", DBPath: "usr/bin/app"},
			},
		}
		out = append(out, idx)
	}
	out = append(out, &model.ImageIndex{ManifestDigest: "sha256:" + strings.Repeat("e", 64), IndexerVersion: "7"})
	return out
}

// tableRows returns the rows of the manifest tables, as text, sorted, but
// for the storage times, of which it returns whether each manifest's
// three are equal.
func tableRows(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT digest, indexer_version, data::text, distribution, package_rows, created_at = updated_at AND updated_at = last_seen FROM manifests`,
		`SELECT manifest, position, layer FROM manifest_layers`,
		`SELECT manifest, kind, name FROM manifest_packages`,
		`SELECT manifest, position, kind, name, source_name, data, hash FROM manifest_package_rows`,
	} {
		rows, err := s.pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vs, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s: %q", strings.Fields(q)[len(strings.Fields(q))-1], vs))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// TestBulkPutManifests checks that BulkPutManifests writes the rows
// PutManifest writes, row for row, and that the manifests it stores are
// read back as PutManifest's; and that it refuses a manifest already
// stored, writing nothing.
func TestBulkPutManifests(t *testing.T) {
	ctx := context.Background()
	one, bulk := openFresh(t), openFresh(t)
	defer one.Close()
	defer bulk.Close()
	idxs := bulkIndexes()
	for _, idx := range idxs {
		if err := one.PutManifest(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	if err := bulk.BulkPutManifests(ctx, idxs); err != nil {
		t.Fatal(err)
	}
	want, got := tableRows(t, one), tableRows(t, bulk)
	if len(want) < 30 {
		t.Fatalf("PutManifest wrote only %d rows: %q", len(want), want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("BulkPutManifests wrote\n%s\nPutManifest\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{"curl", "golang.org/x/net"} {
		kind := vuln.KindDeb
		if strings.Contains(name, "/") {
			kind = "golang"
		}
		a, err := one.PackagesNamed(ctx, kind, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		b, err := bulk.PackagesNamed(ctx, kind, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", a) != fmt.Sprintf("%q", b) || len(a) != 3 {
			t.Errorf("PackagesNamed(%s): bulk %q, one by one %q", name, b, a)
		}
	}

	// A manifest already stored: an error, and nothing of the batch.
	extra := &model.ImageIndex{ManifestDigest: "sha256:" + strings.Repeat("f", 64), IndexerVersion: "7",
		Packages: []vuln.Package{{Kind: vuln.KindDeb, Name: "zlib1g", Version: "1"}}}
	if err := bulk.BulkPutManifests(ctx, []*model.ImageIndex{extra, idxs[0]}); err == nil {
		t.Error("BulkPutManifests of a stored manifest: no error")
	}
	if _, err := bulk.Manifest(ctx, extra.ManifestDigest); err == nil {
		t.Error("BulkPutManifests that failed stored part of its batch")
	}
	if err := bulk.BulkPutManifests(ctx, []*model.ImageIndex{{}}); err == nil {
		t.Error("BulkPutManifests of an index without digest: no error")
	}
}
