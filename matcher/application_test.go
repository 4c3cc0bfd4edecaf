package matcher

import (
	"context"
	"slices"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// TestMatchApplication checks that a project's own package.json is
// matched when published and never when unpublished (private, or without
// a version), whatever name it has.
func TestMatchApplication(t *testing.T) {
	src := &fakeSource{records: []vuln.Record{
		fixed("GHSA-aaaa", "test", vuln.EcosystemNPM, "express", "4.17.3"),
		{ID: "GHSA-bbbb", Source: "test", Ecosystem: vuln.EcosystemNPM, Package: "my-app", Status: vuln.StatusUnfixed},
	}}
	tests := []struct {
		pkg  vuln.Package
		want []string
	}{
		{vuln.Package{Name: "express", Version: "4.17.1", Kind: vuln.KindNPM, Application: vuln.ApplicationPublished}, []string{"GHSA-aaaa"}},
		{vuln.Package{Name: "express", Version: "4.17.1", Kind: vuln.KindNPM, Application: vuln.ApplicationUnpublished}, nil},
		{vuln.Package{Name: "my-app", Kind: vuln.KindNPM, Application: vuln.ApplicationUnpublished}, nil},
		{vuln.Package{Name: "my-app", Version: "1.0.0", Kind: vuln.KindNPM}, []string{"GHSA-bbbb"}},
	}
	for _, tc := range tests {
		fs, _, err := Match(context.Background(), src, &model.ImageIndex{Packages: []vuln.Package{tc.pkg}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: findings %q, want %q", tc.pkg, got, tc.want)
		}
	}
}
