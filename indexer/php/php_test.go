package php_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/php"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// installedV2 is the shape Composer 2 writes to vendor/composer/installed.json
// (trimmed to the members that matter and two packages).
const installedV2 = `{
    "packages": [
        {
            "name": "guzzlehttp/psr7",
            "version": "2.4.3",
            "version_normalized": "2.4.3.0",
            "source": {"type": "git", "url": "https://github.com/guzzle/psr7.git", "reference": "67c26b443f348a51926030c83481b85718457d3d"},
            "type": "library",
            "install-path": "../guzzlehttp/psr7"
        },
        {
            "name": "symfony/http-kernel",
            "version": "v5.4.20",
            "version_normalized": "5.4.20.0",
            "type": "library",
            "install-path": "../symfony/http-kernel"
        },
        {
            "name": "phpunit/phpunit",
            "version": "9.5.27",
            "type": "library"
        }
    ],
    "dev": true,
    "dev-package-names": ["phpunit/phpunit"]
}`

// installedV1 is Composer 1's form: a bare array.
const installedV1 = `[
    {"name": "Monolog/Monolog", "version": "1.25.1", "version_normalized": "1.25.1.0", "type": "library"},
    {"name": "psr/log", "version": "1.1.0", "type": "library"},
    {"name": "broken-entry"},
    {"name": "dev/branch", "version": "dev-master"}
]`

const lock = `{
    "_readme": ["This file locks the dependencies of your project to a known state"],
    "content-hash": "0123456789abcdef",
    "packages": [
        {"name": "laravel/framework", "version": "v9.52.4", "type": "library"},
        {"name": "guzzlehttp/psr7", "version": "2.4.3", "type": "library"}
    ],
    "packages-dev": [
        {"name": "mockery/mockery", "version": "1.5.1", "type": "library"}
    ],
    "aliases": [],
    "minimum-stability": "stable"
}`

func TestParse(t *testing.T) {
	tests := []struct {
		name, path, in, want string
		wantErr              bool
	}{
		{"installed v2", "var/www/vendor/composer/installed.json", installedV2, "guzzlehttp/psr7@2.4.3 symfony/http-kernel@5.4.20 phpunit/phpunit@9.5.27", false},
		{"installed v1", "vendor/composer/installed.json", installedV1, "monolog/monolog@1.25.1 psr/log@1.1.0 dev/branch@dev-master", false},
		{"lock", "var/www/composer.lock", lock, "laravel/framework@9.52.4 guzzlehttp/psr7@2.4.3 mockery/mockery@1.5.1", false},
		{"empty v2", "vendor/composer/installed.json", `{"packages": [], "dev": false}`, "", false},
		{"not json", "vendor/composer/installed.json", `{"packages": [`, "", true},
		{"wrong shape", "vendor/composer/installed.json", `{"name": "x"}`, "", true},
		{"scalar", "vendor/composer/installed.json", `"x"`, "", true},
		{"lock without packages", "composer.lock", `{"packages-dev": []}`, "", true},
		{"lock wrong types", "composer.lock", `{"packages": {"a": 1}}`, "", true},
	}
	for _, tc := range tests {
		res, err := php.New().Parse(context.Background(), tc.path, strings.NewReader(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v", tc.name, err)
			continue
		}
		var got []string
		for _, p := range res.Packages {
			if p.Kind != vuln.KindComposer {
				t.Errorf("%s: %+v", tc.name, p)
			}
			got = append(got, p.Name+"@"+p.Version)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
	if purl := vuln.PURL(vuln.Package{Name: "symfony/http-kernel", Version: "5.4.20", Kind: vuln.KindComposer}, nil); purl != "pkg:composer/symfony/http-kernel@5.4.20" {
		t.Errorf("purl %s", purl)
	}
}

// TestLayer runs the real layer walk: the application's installed.json
// and composer.lock are read, a dependency's own composer.lock in vendor/
// is not.
func TestLayer(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range map[string]string{
		"var/www/vendor/composer/installed.json":       installedV2,
		"var/www/composer.lock":                        lock,
		"var/www/vendor/guzzlehttp/psr7/composer.lock": lock,
		"var/www/composer.json":                        `{"require": {}}`,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	li, err := indexer.New([]indexer.Cataloger{php.New()}).IndexLayer(context.Background(), "test", &buf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range li.Entries {
		got[e.Path] = len(e.Packages)
	}
	if len(got) != 2 || got["var/www/vendor/composer/installed.json"] != 3 || got["var/www/composer.lock"] != 3 || len(li.Warnings) != 0 {
		t.Errorf("entries %v, warnings %v", got, li.Warnings)
	}
}

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"var/www/vendor/composer/installed.json": true,
		"app/libs/composer/installed.json":       true,
		"composer.lock":                          true,
		"srv/app/composer.lock":                  true,
		"srv/app/vendor/a/b/composer.lock":       false,
		"vendor/a/b/composer.lock":               false,
		"srv/app/installed.json":                 false,
		"srv/app/composer.json":                  false,
	} {
		if got := php.New().Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

func FuzzComposer(f *testing.F) {
	f.Add([]byte(installedV2), false)
	f.Add([]byte(installedV1), false)
	f.Add([]byte(lock), true)
	f.Fuzz(func(t *testing.T, b []byte, isLock bool) {
		var pkgs []vuln.Package
		var err error
		if isLock {
			pkgs, err = php.ParseLock(context.Background(), bytes.NewReader(b))
		} else {
			pkgs, err = php.ParseInstalled(context.Background(), bytes.NewReader(b))
		}
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if !strings.Contains(p.Name, "/") || p.Version == "" || p.Name != strings.ToLower(p.Name) {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestBudget runs the cataloger through the walker on a generated
// composer.lock of tiny entries: refused as it is read.
func TestBudget(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{php.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	for _, name := range []string{"srv/composer.lock", "vendor/composer/installed.json"} {
		layer := hostile.Files(hostile.Records(name, `{"packages":[`, 800_000,
			func(i int) string { return fmt.Sprintf(`{"name":"a/b%07d","version":"1"},`, i) }, `{}]}`))
		_, err := ix.IndexLayer(context.Background(), "sha256:l", layer)
		var le *limits.Error
		if !errors.As(err, &le) || le.Key != "limits.packages" {
			t.Fatalf("%s: error %v, want a limit of limits.packages", name, err)
		}
	}
}
