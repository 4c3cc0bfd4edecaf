package java_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/java"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

var (
	jarRE     = regexp.MustCompile(`\.jar$`)
	pomPathRE = regexp.MustCompile(`^META-INF/maven/[^/]+/[^/]+/pom\.properties$`)
	propRE    = regexp.MustCompile(`(?m)^(groupId|artifactId|version)=(.*?)\r?$`)
	mfVerRE   = regexp.MustCompile(`(?m)^(?:Implementation-Version|Bundle-Version|Specification-Version): *(.*?)\r?$`)
)

// truth reads, independently of the cataloger, what a jar should give:
// the coordinates of its pom.properties files ("g:a@v", sorted), or, for a
// jar without any, the versions its manifest or file name allow.
func truth(t *testing.T, name string, b []byte) (poms []string, versions map[string]bool) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	versions = map[string]bool{}
	for _, f := range zr.File {
		switch {
		case pomPathRE.MatchString(f.Name):
			props := map[string]string{}
			for _, m := range propRE.FindAllStringSubmatch(string(readZip(t, f)), -1) {
				props[m[1]] = m[2]
			}
			poms = append(poms, props["groupId"]+":"+props["artifactId"]+"@"+props["version"])
		case f.Name == "META-INF/MANIFEST.MF":
			for _, m := range mfVerRE.FindAllStringSubmatch(string(readZip(t, f)), -1) {
				versions[m[1]] = true
			}
		}
	}
	if m := regexp.MustCompile(`-(\d[^/]*)\.jar$`).FindStringSubmatch(name); m != nil {
		versions[m[1]] = true
	}
	sort.Strings(poms)
	return poms, versions
}

// shaded returns 1 when a jar whose manifest or file name gives a version
// has no pom.properties ("g:a@v") of its own: none whose artifactId is,
// loosely, the file name's (one a prefix of the other, "_" and "." read
// as "-"), nor whose version is one the manifest gives; 0 otherwise.
func shaded(name string, poms []string, versions map[string]bool) int {
	if len(versions) == 0 {
		return 0
	}
	norm := strings.NewReplacer("_", "-", ".", "-")
	base := strings.TrimSuffix(path.Base(name), ".jar")
	if m := regexp.MustCompile(`^(.+?)-\d`).FindStringSubmatch(base); m != nil {
		base = m[1]
	}
	base = strings.ToLower(norm.Replace(base))
	for _, p := range poms {
		ga, v, _ := strings.Cut(p, "@")
		_, a, _ := strings.Cut(ga, ":")
		a = strings.ToLower(norm.Replace(a))
		if strings.HasPrefix(a, base) || strings.HasPrefix(base, a) || versions[v] || versions[v+".0"] {
			return 0
		}
	}
	return 1
}

func readZip(t *testing.T, f *zip.File) []byte {
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImages runs the cataloger through the real layer walk over every
// layer of the fat and mid images (Debian's jars under usr/share/java, the
// /app/java jars) and compares each jar with what its own pom.properties
// and manifest say.
func TestImages(t *testing.T) {
	for _, tag := range []string{"debian-bookworm-fat", "debian-bookworm-mid"} {
		t.Run(tag, func(t *testing.T) {
			got := map[string][]vuln.Package{}
			jars := 0
			ix := indexer.New([]indexer.Cataloger{java.New()})
			for _, b := range testenv.LayerBlobs(t, tag) {
				li, err := ix.IndexLayer(context.Background(), "test", testenv.OpenLayer(t, b))
				if err != nil {
					t.Fatal(err)
				}
				// Only what the manifests leave undetermined.
				for _, w := range li.Warnings {
					if !strings.Contains(w, ": java: no Maven group id in pom.properties or the manifest: listed as ") {
						t.Errorf("warning %q", w)
					}
				}
				for _, e := range li.Entries {
					got[e.Path] = e.Packages
				}
				for name, data := range testenv.LayerFiles(t, b, jarRE.MatchString) {
					jars++
					poms, versions := truth(t, name, data)
					pkgs := got[name]
					var have []string
					for _, p := range pkgs {
						if p.Kind != vuln.KindMaven || p.DBPath != name {
							t.Errorf("%s: %+v", name, p)
						}
						have = append(have, p.Name+"@"+p.Version)
					}
					sort.Strings(have)
					switch {
					case len(poms) > 0:
						// The pom.properties, plus the manifest's package
						// when none of them is the jar's own.
						extra := shaded(name, poms, versions)
						var rest []string
						for _, h := range have {
							if !slices.Contains(poms, h) {
								rest = append(rest, h)
							}
						}
						if len(have) != len(poms)+len(rest) || len(rest) != extra {
							t.Errorf("%s: got %v, want %v and %d more", name, have, poms, extra)
						}
						for _, r := range rest {
							if _, v, _ := strings.Cut(r, "@"); !versions[v] {
								t.Errorf("%s: %s is not versioned by the manifest (%v)", name, r, versions)
							}
						}
					case len(versions) > 0:
						if len(pkgs) != 1 || !versions[pkgs[0].Version] {
							t.Errorf("%s: got %v, want one package versioned one of %v", name, have, versions)
						}
					default:
						// Listed all the same, unversioned.
						if len(pkgs) != 1 || pkgs[0].Version != "" {
							t.Errorf("%s: got %v, want one package, unversioned", name, have)
						}
					}
				}
			}
			if jars == 0 {
				t.Fatal("no jars in the image")
			}
			t.Logf("%d jars", jars)
			want := map[string]string{
				"app/java/jackson-databind-2.14.0.jar": "com.fasterxml.jackson.core:jackson-databind@2.14.0",
				"usr/share/java/jackson-databind.jar":  "com.fasterxml.jackson.core:jackson-databind@2.14.0",
			}
			if tag == "debian-bookworm-fat" {
				for k, v := range map[string]string{
					"app/java/log4j-core-2.19.0.jar":  "org.apache.logging.log4j:log4j-core@2.19.0",
					"usr/share/java/log4j-core.jar":   "org.apache.logging.log4j:log4j-core@2.19.0",
					"usr/share/java/commons-text.jar": "org.apache.commons:commons-text@1.10.0",
					// Manifest only: coordinates from the manifest and file name.
					"usr/share/java/xz-1.9.jar":                     "org.tukaani:xz@1.9",
					"usr/share/java/bson-3.6.3.jar":                 "org.mongodb:bson@3.6.3",
					"usr/share/java/commons-logging-1.2.jar":        "org.apache:commons-logging@1.2", // Implementation-Vendor-Id, as declared
					"usr/share/java/mongodb-driver-async-3.6.3.jar": "org.mongodb:mongodb-driver-async@3.6.3",
					// No group: none is guessed.
					"usr/share/java/aopalliance-1.0.jar":         "aopalliance@1.0",
					"usr/share/java/atinject-jsr330-api-1.0.jar": "atinject-jsr330-api@1.0.0",
					"usr/share/java/guice-assistedinject.jar":    "guice-assistedinject@4.2.3",
					"usr/share/java/guice-no-aop-4.2.3.jar":      "guice-no-aop@4.2.3",
				} {
					want[k] = v
				}
				if n := len(got["usr/share/java/httpclient-osgi.jar"]); n != 6 {
					t.Errorf("httpclient-osgi.jar: %d packages, want the 6 of its pom.properties", n)
				}
				// Debian's guice.jar shades cglib: cglib's pom.properties,
				// and guice itself from the manifest.
				var guice []string
				for _, p := range got["usr/share/java/guice.jar"] {
					guice = append(guice, p.Name+"@"+p.Version)
				}
				if strings.Join(guice, " ") != "cglib:cglib@3.2.12 guice@4.2.3" {
					t.Errorf("guice.jar: %v", guice)
				}
			}
			for p, w := range want {
				pkgs := got[p]
				if len(pkgs) != 1 || pkgs[0].Name+"@"+pkgs[0].Version != w {
					t.Errorf("%s: got %+v, want %s", p, pkgs, w)
				}
			}
			if pkgs := got["app/java/jackson-databind-2.14.0.jar"]; len(pkgs) == 1 {
				if purl := vuln.PURL(pkgs[0], nil); purl != "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.14.0" {
					t.Errorf("purl %s", purl)
				}
			}
		})
	}
}

// realJars returns a few real jars from the fat image's /app layer, or
// skips.
func realJars(t *testing.T) map[string][]byte {
	blobs := testenv.LayerBlobs(t, "debian-bookworm-fat")
	jars := testenv.LayerFiles(t, blobs[len(blobs)-1], jarRE.MatchString)
	if len(jars) < 2 {
		t.Fatalf("%d jars in the app layer", len(jars))
	}
	return jars
}

type entry struct {
	name string
	data []byte
}

func zipOf(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func parse(t *testing.T, c *java.Cataloger, name string, b []byte) ([]string, error) {
	res, err := c.Parse(context.Background(), name, bytes.NewReader(b))
	var out []string
	for _, p := range res.Packages {
		out = append(out, p.DBPath+" "+p.Name+"@"+p.Version)
	}
	sort.Strings(out)
	return out, err
}

// TestNested puts the real /app jars inside a war, the war inside an ear,
// and a Spring Boot style jar, and checks the nested paths.
func TestNested(t *testing.T) {
	jars := realJars(t)
	log4j, jackson := jars["app/java/log4j-core-2.19.0.jar"], jars["app/java/jackson-databind-2.14.0.jar"]
	war := zipOf(t,
		entry{"META-INF/MANIFEST.MF", []byte("Manifest-Version: 1.0\r\nImplementation-Title: shop\r\nImplementation-Version: 3.1\r\nImplementation-Vendor-Id: com.example\r\n\r\n")},
		entry{"WEB-INF/web.xml", []byte("<web-app/>")},
		entry{"WEB-INF/lib/log4j-core-2.19.0.jar", log4j},
		entry{"WEB-INF/lib/broken.jar", []byte("not a zip")},
	)
	ear := zipOf(t, entry{"shop.war", war}, entry{"lib/jackson-databind-2.14.0.jar", jackson})
	boot := zipOf(t,
		entry{"META-INF/maven/com.example/app/pom.properties", []byte("#Generated by Maven\nversion=1.0.0\ngroupId=com.example\nartifactId=app\n")},
		entry{"BOOT-INF/lib/jackson-databind-2.14.0.jar", jackson},
	)
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"srv/shop.ear", ear, []string{
			"srv/shop.ear!lib/jackson-databind-2.14.0.jar com.fasterxml.jackson.core:jackson-databind@2.14.0",
			"srv/shop.ear!shop.war com.example:shop@3.1",
			"srv/shop.ear!shop.war!WEB-INF/lib/log4j-core-2.19.0.jar org.apache.logging.log4j:log4j-core@2.19.0",
		}},
		{"app.jar", boot, []string{
			"app.jar com.example:app@1.0.0",
			"app.jar!BOOT-INF/lib/jackson-databind-2.14.0.jar com.fasterxml.jackson.core:jackson-databind@2.14.0",
		}},
	}
	for _, tc := range tests {
		got, err := parse(t, java.New(), tc.name, tc.data)
		if err != nil {
			t.Fatal(err)
		}
		// The ear itself has neither pom.properties, manifest nor a
		// version in its name: it gives nothing of its own.
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	// Depth 1: the war inside the ear is read, the jars inside it are not.
	got, err := parse(t, java.NewWithLimits(java.DefaultMaxNestedSize, java.DefaultMaxTotal, 1), "srv/shop.ear", ear)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("depth 1: %q", got)
	}
}

// TestLimits: a nested archive over the per-archive limit is skipped (its
// parent still reported); nested archives over the total limit, as a zip
// bomb of nested archives would be, fail the whole archive; bad zips are
// errors.
func TestLimits(t *testing.T) {
	zeros := make([]byte, 3<<20) // compresses to a few KiB
	pom := entry{"META-INF/maven/g/a/pom.properties", []byte("groupId=g\nartifactId=a\nversion=1\n")}
	big := zipOf(t, pom, entry{"lib/huge.jar", zeros})
	got, err := parse(t, java.NewWithLimits(1<<20, 10<<20, 4), "x.jar", big)
	if err != nil || len(got) != 1 || got[0] != "x.jar g:a@1" {
		t.Errorf("over the per-archive limit: %q, %v", got, err)
	}
	noise := make([]byte, 800<<10) // does not compress
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	inner := zipOf(t, entry{"META-INF/maven/g/b/pom.properties", []byte("groupId=g\nartifactId=b\nversion=2\n")}, entry{"pad", noise})
	bomb := zipOf(t, pom, entry{"lib/1.jar", inner}, entry{"lib/2.jar", inner}, entry{"lib/3.jar", inner})
	_, err = parse(t, java.NewWithLimits(1<<20, 2<<20, 4), "bomb.jar", bomb)
	if !errors.Is(err, java.ErrTooLarge) {
		t.Errorf("over the total limit: %v", err)
	}
	got, err = parse(t, java.NewWithLimits(1<<20, 4<<20, 4), "ok.jar", bomb)
	if err != nil || len(got) != 4 {
		t.Errorf("within the total limit: %q, %v", got, err)
	}
	// An archive nesting itself deeper than the depth limit.
	deep := zipOf(t, pom)
	for range 10 {
		deep = zipOf(t, entry{"lib/d.jar", deep})
	}
	// The pom.properties below the depth limit is not read: the deepest
	// archive read is listed, unversioned, and the envelopes around it
	// are not.
	if got, err := parse(t, java.New(), "deep.jar", deep); err != nil || len(got) != 1 || !strings.HasSuffix(got[0], "@") {
		t.Errorf("deep: %q, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"empty.jar":     nil,
		"garbage.jar":   []byte("PK\x03\x04 this is not a zip"),
		"truncated.jar": big[:len(big)/2],
	} {
		if _, err := parse(t, java.New(), name, b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestManifestAndNames(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     string
	}{
		{"jackson-databind.jar", "Bundle-SymbolicName: com.fasterxml.jackson.core.jackson-databind\nBundle-Name: jackson-databind\nBundle-Version: 2.14.0\n", "com.fasterxml.jackson.core:jackson-databind@2.14.0"},
		{"guava-31.1-jre.jar", "Bundle-SymbolicName: com.google.guava\nBundle-Version: 31.1.0.jre\n", "com.google:guava@31.1.0.jre"},
		{"guava-31.1-jre.jar", "Created-By: Maven\n", "guava@31.1-jre"},
		{"x.jar", "Implementation-Title: My Thing\nImplementation-Vendor-Id: org.x\nImplementation-Version: 1.0\n", "org.x:x@1.0"},
		{"plugin.jar", "Bundle-SymbolicName: org.eclipse.foo.bar;singleton:=true\nBundle-Version: 3.2.1.v2020\n", "org.eclipse.foo:bar@3.2.1.v2020"},
		{"long.jar", "Implementation-Title: lo\n ng-name\nImplementation-Version: 7\n", "long-name@7"},
		{"nothing.jar", "Manifest-Version: 1.0\n", "nothing@"},
	}
	for _, tc := range tests {
		b := zipOf(t, entry{"META-INF/MANIFEST.MF", []byte(tc.manifest)})
		got, err := parse(t, java.New(), tc.name, b)
		if err != nil {
			t.Fatal(err)
		}
		want := []string(nil)
		if tc.want != "" {
			want = []string{tc.name + " " + tc.want}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s %q: got %q, want %q", tc.name, tc.manifest, got, want)
		}
	}
	// pom.properties without a version, or with an unresolved property,
	// is ignored in favour of the manifest.
	b := zipOf(t,
		entry{"META-INF/maven/g/a/pom.properties", []byte("groupId=g\nartifactId=a\nversion=${project.version}\n")},
		entry{"META-INF/MANIFEST.MF", []byte("Implementation-Vendor-Id: g\nImplementation-Version: 5\n")},
	)
	if got, _ := parse(t, java.New(), "a-5.jar", b); len(got) != 1 || got[0] != "a-5.jar g:a@5" {
		t.Errorf("unresolved pom.properties: %q", got)
	}
}

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"usr/share/java/log4j-core.jar": true, "app/x.WAR": true, "opt/a.ear": true, "var/jenkins/plugins/git.jpi": true,
		"x.hpi": true, "usr/share/java/readme.txt": false, "jar": false, "a.jar.sha1": false, "a.zip": false,
	} {
		if got := java.New().Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

func FuzzJar(f *testing.F) {
	f.Add(zipOf(f, entry{"META-INF/maven/g/a/pom.properties", []byte("groupId=g\nartifactId=a\nversion=1\n")}))
	f.Add(zipOf(f, entry{"META-INF/MANIFEST.MF", []byte("Bundle-SymbolicName: a.b\nBundle-Version: 1\n")}))
	f.Add(zipOf(f, entry{"lib/in.jar", zipOf(f, entry{"META-INF/MANIFEST.MF", []byte("Implementation-Version: 2\n")})}))
	f.Add(zipOf(f, entry{"META-INF/MANIFEST.MF", []byte("Bundle-SymbolicName: org.mongodb.driver-async\r\nBundle-Name: mongodb-driver-async\r\nImplementation-Vendor-Id: org.x\r\nAutomatic-Module-Name: a.b\r\n")}))
	f.Add(zipOf(f, entry{"META-INF/MANIFEST.MF", []byte("Bundle-SymbolicName: .a..b.;x\nSpecification-Version: \n")}, entry{"lib/x.jar", zipOf(f, entry{"c", nil})}))
	// Small real jars of the fat image, where available.
	if dir := os.Getenv("LAPPS_TEST_IMAGES"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "debian", "oci", "index.json")); err == nil {
			for _, b := range testenv.LayerBlobs(f, "debian-bookworm-fat") {
				n := 0
				for _, data := range testenv.LayerFiles(f, b, jarRE.MatchString) {
					if len(data) < 16<<10 && n < 5 {
						f.Add(data)
						n++
					}
				}
			}
		}
	}
	c := java.NewWithLimits(1<<20, 4<<20, 3)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := c.Parse(context.Background(), "f.jar", bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Kind != vuln.KindMaven || p.Name == "" || !strings.HasPrefix(p.DBPath, "f.jar") {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// storedZipOf is zipOf with the entries stored, not compressed, as
// Spring Boot stores the jars of BOOT-INF/lib.
func storedZipOf(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStoredNested reads nested archives stored uncompressed in place:
// what it finds is what it finds in the same archives compressed.
func TestStoredNested(t *testing.T) {
	pom := entry{"META-INF/maven/g/inner/pom.properties", []byte("groupId=g\nartifactId=inner\nversion=2\n")}
	inner := zipOf(t, pom)
	boot := entry{"META-INF/maven/g/app/pom.properties", []byte("groupId=g\nartifactId=app\nversion=1\n")}
	stored, err := parse(t, java.New(), "app.jar", storedZipOf(t, boot, entry{"BOOT-INF/lib/inner-2.jar", inner}, entry{"BOOT-INF/lib/inner2-2.jar", storedZipOf(t, pom)}))
	if err != nil {
		t.Fatal(err)
	}
	deflated, err := parse(t, java.New(), "app.jar", zipOf(t, boot, entry{"BOOT-INF/lib/inner-2.jar", inner}, entry{"BOOT-INF/lib/inner2-2.jar", storedZipOf(t, pom)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 || !slices.Equal(stored, deflated) {
		t.Errorf("stored %q, deflated %q", stored, deflated)
	}
}

// TestHostileArchives: a central directory of too many entries fails the
// archive (a warning of the layer); so does one whose end record claims
// too many; decompressing more than the layer's expansion budget stops
// with a warning; packages count against the layer's budget.
func TestHostileArchives(t *testing.T) {
	many := make([]entry, 150_000)
	for i := range many {
		many[i] = entry{name: fmt.Sprintf("c/%06d.class", i)}
	}
	if _, err := parse(t, java.New(), "many.jar", storedZipOf(t, many...)); err == nil || !strings.Contains(err.Error(), "central directory") {
		t.Errorf("150,000 entries: %v", err)
	}
	// Nested archives of 3 MiB of zeros each, from a layer whose files
	// may be 64 KiB: the expansion budget is 1 MiB.
	pom := entry{"META-INF/maven/g/a/pom.properties", []byte("groupId=g\nartifactId=a\nversion=1\n")}
	inner := storedZipOf(t, pom, entry{"zeros", make([]byte, 3<<20)})
	jar := zipOf(t, entry{"lib/a.jar", inner}, entry{"lib/b.jar", inner})
	ix := indexer.New([]indexer.Cataloger{java.New()}, indexer.WithLimits(indexer.Limits{FileBytes: 64 << 10}))
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("app/x.jar", jar)))
	if err != nil || len(li.Warnings) != 1 || !strings.Contains(li.Warnings[0], "decompressed") {
		t.Errorf("expansion: warnings %q, %v", li.Warnings, err)
	}
	// A jar of 5,000 nested archives, each a package by its name.
	nested := make([]entry, 5000)
	for i := range nested {
		nested[i] = entry{fmt.Sprintf("lib/a%d-1.0.jar", i), zipOf(t)}
	}
	ix = indexer.New([]indexer.Cataloger{java.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	_, err = ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("app/x.jar", zipOf(t, nested...))))
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" {
		t.Errorf("5,000 nested archives: %v", err)
	}
}

// TestManifestCoordinates checks the coordinates of archives without
// pom.properties, in the shape of the real manifests of Debian's jars,
// and the warnings for what the manifest leaves undetermined.
func TestManifestCoordinates(t *testing.T) {
	const noGroup, noVersion = "no Maven group id", "no version"
	tests := []struct {
		name, manifest, want string
		warnings             []string
	}{
		// Bundle-SymbolicName "G.A".
		{"bson-3.6.3.jar", "Bundle-SymbolicName: org.mongodb.bson\nBundle-Version: 3.6.3\nBundle-Name: bson\n", "org.mongodb:bson@3.6.3", nil},
		// "G.S" for artifact "L-S", L the last element of G.
		{"mongodb-driver-async-3.6.3.jar", "Bundle-SymbolicName: org.mongodb.driver-async\nBundle-Version: 3.6.3\n", "org.mongodb:mongodb-driver-async@3.6.3", nil},
		{"commons-lang.jar", "Bundle-SymbolicName: org.apache.commons.lang\nBundle-Name: commons-lang\nBundle-Version: 2.6\n", "org.apache.commons:commons-lang@2.6", nil},
		// Implementation-Vendor-Id first, as declared.
		{"commons-logging-1.2.jar", "Implementation-Vendor-Id: org.apache\nBundle-SymbolicName: org.apache.commons.logging\nImplementation-Version: 1.2\n", "org.apache:commons-logging@1.2", nil},
		{"x-1.jar", "Implementation-Vendor-Id: The Apache Software Foundation\n", "x@1", []string{noGroup}},
		// No group is guessed: a symbolic name that is not G.A, a module name.
		{"guice-4.2.3.jar", "Automatic-Module-Name: com.google.guice\nBundle-SymbolicName: com.google.inject\nBundle-Version: 4.2.3\n", "guice@4.2.3", []string{noGroup}},
		{"guice-servlet.jar", "Automatic-Module-Name: com.google.guice.extensions.servlet\nBundle-Name: guice-servlet\nBundle-SymbolicName: com.google.inject.servlet\nBundle-Version: 4.2.3\n", "guice-servlet@4.2.3", []string{noGroup}},
		{"atinject-jsr330-api-1.0.jar", "Bundle-SymbolicName: javax.inject\nBundle-Version: 1.0.0\n", "atinject-jsr330-api@1.0.0", []string{noGroup}},
		{"aopalliance-1.0.jar", "Manifest-Version: 1.0\n", "aopalliance@1.0", []string{noGroup}},
		// Versions: Implementation-, Bundle-, Specification-Version, the file name; else none.
		{"a.jar", "Implementation-Vendor-Id: g\nSpecification-Version: 3\nBundle-Version: 2\n", "g:a@2", nil},
		{"a.jar", "Implementation-Vendor-Id: g\nSpecification-Version: 3\n", "g:a@3", nil},
		{"a.jar", "Implementation-Vendor-Id: g\n", "g:a@", []string{noVersion}},
		{"plain.jar", "", "plain@", []string{noGroup, noVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var entries []entry
			if tc.manifest != "" {
				entries = append(entries, entry{"META-INF/MANIFEST.MF", []byte("Manifest-Version: 1.0\r\n" + strings.ReplaceAll(tc.manifest, "\n", "\r\n"))})
			} else {
				entries = append(entries, entry{"a/B.class", []byte{0xca, 0xfe}})
			}
			res, err := java.New().Parse(context.Background(), tc.name, bytes.NewReader(zipOf(t, entries...)))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Packages) != 1 || res.Packages[0].Name+"@"+res.Packages[0].Version != tc.want {
				t.Fatalf("got %+v, want %s", res.Packages, tc.want)
			}
			if len(res.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", res.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.HasPrefix(res.Warnings[i], w) {
					t.Errorf("warning %q, want %q…", res.Warnings[i], w)
				}
			}
		})
	}
	// The warnings of one file are bounded.
	var many []entry
	for i := range 200 {
		many = append(many, entry{fmt.Sprintf("lib/x%d.jar", i), zipOf(t, entry{"a/B.class", []byte{1}})})
	}
	res, err := java.New().Parse(context.Background(), "many.jar", bytes.NewReader(zipOf(t, many...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != 200 || len(res.Warnings) != 51 || !strings.HasSuffix(res.Warnings[50], "more warnings not kept") || !strings.HasPrefix(res.Warnings[0], "lib/x") {
		t.Errorf("%d packages, %d warnings: %q", len(res.Packages), len(res.Warnings), res.Warnings[len(res.Warnings)-1])
	}
}

func TestRepositoryCoordinates(t *testing.T) {
	tests := []struct{ path, want string }{
		{"root/.m2/repository/com/google/inject/guice/4.2.3/guice-4.2.3.jar", "com.google.inject:guice@4.2.3"},
		{"root/.m2/repository/com/google/inject/guice/4.2.3/guice-4.2.3-no_aop.jar", "com.google.inject:guice@4.2.3"},
		{"usr/share/maven-repo/org/jsr-305/jsr305/0.1-SNAPSHOT/jsr305-0.1-SNAPSHOT.jar", "org.jsr-305:jsr305@0.1-SNAPSHOT"},
		{"usr/share/maven-repo/aopalliance/aopalliance/1.0/aopalliance-1.0.jar", "aopalliance:aopalliance@1.0"},
		{"usr/share/maven-repo/aopalliance/aopalliance/debian/aopalliance-debian.jar", "aopalliance:aopalliance@"},
		{"root/.m2/repository/guice/4.2.3/guice-4.2.3.jar", ""},
		{"root/.m2/repository/com/google/guice/4.2.3/other.jar", ""},
		{"srv/repository/com/google/guice/4.2.3/guice-4.2.3.jar", ""},
		{"usr/share/maven-repo/a/b/1/b-1.jar!lib/x.jar", ""},
		{"usr/share/java/guice.jar", ""},
	}
	for _, tc := range tests {
		g, a, v, ok := java.RepositoryCoordinates(tc.path)
		got := ""
		if ok {
			got = g + ":" + a + "@" + v
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
	}
}
