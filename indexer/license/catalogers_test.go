package license_test

// Licenses as the catalogers read them from real-shaped metadata: each
// cataloger's parser over a small file in the shape its ecosystem
// writes, and the licenses it gives.

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer/java"
	"github.com/lapps/lapps/indexer/npm"
	"github.com/lapps/lapps/indexer/php"
	"github.com/lapps/lapps/indexer/python"
	"github.com/lapps/lapps/indexer/ruby"
)

func TestNPMLicenses(t *testing.T) {
	for _, tc := range []struct {
		json string
		want []string
	}{
		{`{"name":"a","version":"1.0.0","license":"MIT"}`, []string{"MIT"}},
		{`{"name":"a","version":"1.0.0","license":"(MIT OR Apache-2.0)"}`, []string{"MIT OR Apache-2.0"}},
		{`{"name":"a","version":"1.0.0","license":{"type":"BSD-3-Clause","url":"https://x"}}`, []string{"BSD-3-Clause"}},
		{`{"name":"a","version":"1.0.0","licenses":[{"type":"MIT","url":"x"},{"type":"Apache 2.0"}]}`, []string{"MIT", "Apache-2.0"}},
		{`{"name":"a","version":"1.0.0","licenses":["GPLv2+","MIT"]}`, []string{"GPL-2.0-or-later", "MIT"}},
		{`{"name":"a","version":"1.0.0","license":"ISC","licenses":[{"type":"MIT"}]}`, []string{"ISC"}},
		{`{"name":"a","version":"1.0.0","license":"SEE LICENSE IN LICENSE.md"}`, []string{"SEE LICENSE IN LICENSE.md"}},
		{`{"name":"a","version":"1.0.0","license":5}`, nil},
		{`{"name":"a","version":"1.0.0","licenses":[[{"type":"MIT"}]]}`, nil},
		{`{"name":"a","version":"1.0.0"}`, nil},
	} {
		p, err := npm.ParsePackageJSON(strings.NewReader(tc.json))
		if err != nil || p == nil {
			t.Fatalf("%s: %v, %v", tc.json, p, err)
		}
		if !reflect.DeepEqual(p.Licenses, tc.want) {
			t.Errorf("%s: licenses %q, want %q", tc.json, p.Licenses, tc.want)
		}
	}
}

func TestPythonLicenses(t *testing.T) {
	for _, tc := range []struct {
		name, meta string
		want       []string
	}{
		{"expression", "Metadata-Version: 2.4\nName: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: BSD\nClassifier: License :: OSI Approved :: MIT License\n\nbody\n", []string{"MIT OR Apache-2.0"}},
		{"short license", "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\n", []string{"Apache-2.0"}},
		{"classifiers", "Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: UNKNOWN\nClassifier: Programming Language :: Python\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)\n\n", []string{"MIT", "GPL-2.0-or-later"}},
		{"license text", "Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: Copyright (c) 2010 Somebody\n        Permission is hereby granted, free of charge\nClassifier: License :: OSI Approved :: BSD License\n\n", []string{"BSD License"}},
		{"long one-line text", "Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: " + strings.Repeat("words ", 30) + "\n\n", nil},
		{"none", "Metadata-Version: 2.1\nName: a\nVersion: 1\n\nLicense: MIT\n", nil},
	} {
		m, err := python.ReadMetadata(strings.NewReader(tc.meta))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(m.Licenses, tc.want) {
			t.Errorf("%s: licenses %q, want %q", tc.name, m.Licenses, tc.want)
		}
	}
}

func TestGemspecLicenses(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"Gem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.4\"\n  s.licenses = [\"MIT\".freeze]\nend\n", []string{"MIT"}},
		{"Gem::Specification.new do |s|\n  s.name = %q{json}\n  s.version = \"2.6.3\"\n  s.licenses = [\"Ruby\".freeze, \"BSD-2-Clause\".freeze]\nend\n", []string{"Ruby", "BSD-2-Clause"}},
		{"Gem::Specification.new do |s|\n  s.name = 'x'\n  s.version = '1'\n  s.license = 'Apache 2.0'\nend\n", []string{"Apache-2.0"}},
		{"Gem::Specification.new do |s|\n  s.name = 'x'\n  s.version = '1'\nend\n", nil},
	} {
		p, err := ruby.ParseGemspec(strings.NewReader(tc.spec))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.Licenses, tc.want) {
			t.Errorf("%q: licenses %q, want %q", tc.spec, p.Licenses, tc.want)
		}
	}
}

func TestComposerLicenses(t *testing.T) {
	installed := `{"packages":[
		{"name":"monolog/monolog","version":"2.9.1","license":["MIT"]},
		{"name":"a/dual","version":"1.0.0","license":["LGPL-2.1-only","GPL-3.0-or-later"]},
		{"name":"a/str","version":"1.0.0","license":"BSD-3-Clause"},
		{"name":"a/odd","version":"1.0.0","license":["proprietary","MIT"]},
		{"name":"a/none","version":"1.0.0","license":{"x":1}}
	]}`
	pkgs, err := php.ParseInstalled(context.Background(), strings.NewReader(installed))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"monolog/monolog": {"MIT"},
		"a/dual":          {"LGPL-2.1-only OR GPL-3.0-or-later"},
		"a/str":           {"BSD-3-Clause"},
		"a/odd":           {"proprietary", "MIT"},
		"a/none":          nil,
	}
	for _, p := range pkgs {
		if !reflect.DeepEqual(p.Licenses, want[p.Name]) {
			t.Errorf("%s: licenses %q, want %q", p.Name, p.Licenses, want[p.Name])
		}
	}
	if len(pkgs) != len(want) {
		t.Errorf("%d packages, want %d", len(pkgs), len(want))
	}
}

func TestPomLicenses(t *testing.T) {
	for _, tc := range []struct {
		pom  string
		want []string
	}{
		{`<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.google.guava</groupId>
  <artifactId>guava</artifactId>
  <licenses>
    <license>
      <name>The Apache Software License, Version 2.0</name>
      <url>http://www.apache.org/licenses/LICENSE-2.0.txt</url>
    </license>
  </licenses>
  <dependencies><dependency><licenses><license><name>GPL</name></license></licenses></dependency></dependencies>
</project>`, []string{"Apache-2.0"}},
		{`<project><licenses><license><name>Eclipse Public License - v 1.0</name></license><license><name>GNU Lesser General Public License</name></license></licenses></project>`, []string{"EPL-1.0", "GNU Lesser General Public License"}},
		{`<project><parent><artifactId>p</artifactId></parent></project>`, nil},
		{`not xml`, nil},
	} {
		if got := java.PomLicenses([]byte(tc.pom)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%.60q: licenses %q, want %q", tc.pom, got, tc.want)
		}
	}
}
