package dotnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/dotnet"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// depsJSON has the shape the .NET SDK writes for an application
// (dotnet publish): the application itself as a project, NuGet packages,
// a project reference and a framework reference.
const depsJSON = `{
  "runtimeTarget": {
    "name": ".NETCoreApp,Version=v6.0",
    "signature": ""
  },
  "compilationOptions": {},
  "targets": {
    ".NETCoreApp,Version=v6.0": {
      "WebApp/1.0.0": {
        "dependencies": {
          "Newtonsoft.Json": "12.0.1",
          "System.Text.Encodings.Web": "4.7.1",
          "Shared": "1.0.0"
        },
        "runtime": {"WebApp.dll": {}}
      },
      "Newtonsoft.Json/12.0.1": {
        "runtime": {"lib/netstandard2.0/Newtonsoft.Json.dll": {"assemblyVersion": "12.0.0.0", "fileVersion": "12.0.1.23012"}}
      },
      "System.Text.Encodings.Web/4.7.1": {},
      "Shared/1.0.0": {"runtime": {"Shared.dll": {}}}
    }
  },
  "libraries": {
    "WebApp/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Newtonsoft.Json/12.0.1": {
      "type": "package",
      "serviceable": true,
      "sha512": "sha512-pBR3wCgYWZGiaZDYP+HHYnalVnPJlpP1q55qvVb+adrDHmFMDc1NAKio61xTwftK3Pw5h7TZJPJEEVMd6ty8rg==",
      "path": "newtonsoft.json/12.0.1",
      "hashPath": "newtonsoft.json.12.0.1.nupkg.sha512"
    },
    "System.Text.Encodings.Web/4.7.1": {"type": "package", "serviceable": true, "sha512": "sha512-x", "path": "system.text.encodings.web/4.7.1"},
    "Shared/1.0.0": {"type": "project", "serviceable": false, "sha512": ""},
    "Microsoft.NETCore.App.Ref/6.0.0": {"type": "referenceassembly", "serviceable": false}
  }
}`

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"app", depsJSON, "Newtonsoft.Json@12.0.1 System.Text.Encodings.Web@4.7.1", false},
		{"no packages", `{"runtimeTarget": {"name": "x"}, "libraries": {}}`, "", false},
		{"odd keys", `{"libraries": {"NoVersion": {"type": "package"}, "/1.0": {"type": "package"}, "A/1/2": {"type": "package"}, "B/2.0": {"type": "Package"}}}`, "B@2.0", false},
		{"no libraries", `{"runtimeTarget": {}}`, "", true},
		{"not json", `{"libraries": `, "", true},
		{"wrong types", `{"libraries": {"A/1": "package"}}`, "", true},
	}
	for _, tc := range tests {
		res, err := dotnet.New().Parse(context.Background(), "app/WebApp.deps.json", strings.NewReader(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v", tc.name, err)
			continue
		}
		var got []string
		for _, p := range res.Packages {
			if p.Kind != vuln.KindNuGet {
				t.Errorf("%s: %+v", tc.name, p)
			}
			got = append(got, p.Name+"@"+p.Version)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
	if purl := vuln.PURL(vuln.Package{Name: "Newtonsoft.Json", Version: "12.0.1", Kind: vuln.KindNuGet}, nil); purl != "pkg:nuget/Newtonsoft.Json@12.0.1" {
		t.Errorf("purl %s", purl)
	}
}

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"app/WebApp.deps.json": true, "usr/share/dotnet/shared/Microsoft.NETCore.App/6.0.0/Microsoft.NETCore.App.deps.json": true,
		"app/.deps.json": false, "app/WebApp.runtimeconfig.json": false, "app/deps.json": false,
	} {
		if got := dotnet.New().Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

func FuzzDepsJSON(f *testing.F) {
	f.Add([]byte(depsJSON))
	f.Add([]byte(`{"libraries": {"A/1": {"type": "package"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := dotnet.ParseDepsJSON(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || strings.Contains(p.Version, "/") {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestBudget runs the cataloger through the walker on a generated
// deps.json of tiny libraries: refused as it is read.
func TestBudget(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{dotnet.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	layer := hostile.Files(hostile.Records("app/app.deps.json", `{"targets":{},"libraries":{`, 800_000,
		func(i int) string { return fmt.Sprintf(`"P%07d/1.0":{"type":"package"},`, i) }, `"x/1":{}}}`))
	_, err := ix.IndexLayer(context.Background(), "sha256:l", layer)
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" {
		t.Fatalf("error %v, want a limit of limits.packages", err)
	}
}
