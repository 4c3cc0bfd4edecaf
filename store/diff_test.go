package store

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lapps/lapps/vuln"
)

func TestDiffRecords(t *testing.T) {
	rec := func(id, pkg, summary string) vuln.Record {
		return vuln.Record{ID: id, Ecosystem: "debian:12", Package: pkg, Title: summary}
	}
	ids := func(rs []vuln.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID+"/"+r.Package+"/"+r.Title)
		}
		return out
	}
	for _, tc := range []struct {
		name                    string
		newer, older            []vuln.Record
		added, removed, changed []string
	}{
		{name: "nothing"},
		{
			name:  "from nothing: all added, sorted by package",
			newer: []vuln.Record{rec("CVE-2", "zlib", ""), rec("CVE-1", "curl", "")},
			added: []string{"CVE-1/curl/", "CVE-2/zlib/"},
		},
		{
			name:    "all removed",
			older:   []vuln.Record{rec("CVE-1", "curl", "")},
			removed: []string{"CVE-1/curl/"},
		},
		{
			name:    "same key on both sides is changed, as it is in newer",
			newer:   []vuln.Record{rec("CVE-1", "curl", "new"), rec("CVE-3", "bash", "")},
			older:   []vuln.Record{rec("CVE-1", "curl", "old"), rec("CVE-2", "curl", "")},
			added:   []string{"CVE-3/bash/"},
			removed: []string{"CVE-2/curl/"},
			changed: []string{"CVE-1/curl/new"},
		},
		{
			name:    "same id, other package is another key",
			newer:   []vuln.Record{rec("CVE-1", "openssl", "")},
			older:   []vuln.Record{rec("CVE-1", "curl", "")},
			added:   []string{"CVE-1/openssl/"},
			removed: []string{"CVE-1/curl/"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DiffRecords(tc.newer, tc.older)
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"added", ids(d.Added), tc.added}, {"removed", ids(d.Removed), tc.removed}, {"changed", ids(d.Changed), tc.changed}} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestDiffSources(t *testing.T) {
	a := &UpdateOperation{Source: "debian"}
	if err := DiffSources(nil, a); err != nil {
		t.Errorf("from nothing: %v", err)
	}
	if err := DiffSources(&UpdateOperation{Source: "debian"}, a); err != nil {
		t.Errorf("same source: %v", err)
	}
	err := DiffSources(&UpdateOperation{Source: "alpine"}, a)
	if err == nil || !strings.Contains(err.Error(), "different sources (alpine, debian)") {
		t.Errorf("different sources: %v", err)
	}
}
