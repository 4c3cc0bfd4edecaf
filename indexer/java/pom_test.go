package java_test

import (
	"bytes"
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/lapps/lapps/indexer/java"
)

// TestPomLicensesOfJars: the licenses of a jar's embedded pom.xml reach
// the package its pom.properties beside it names, in the real jars of
// the fat image's application layer, and in a fat jar whose bundled
// artifacts each carry their own pom.xml.
func TestPomLicensesOfJars(t *testing.T) {
	jars := realJars(t)
	got := map[string][]string{}
	names := make([]string, 0, len(jars))
	for name := range jars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		res, err := java.New().Parse(context.Background(), name, bytes.NewReader(jars[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range res.Packages {
			got[p.Name] = p.Licenses
			t.Logf("%s: %s@%s %q", name, p.Name, p.Version, p.Licenses)
		}
	}
	// jackson-databind's pom declares its license; log4j-core's inherits
	// it from its parent pom, which the jar does not hold.
	if l := got["com.fasterxml.jackson.core:jackson-databind"]; !reflect.DeepEqual(l, []string{"Apache-2.0"}) {
		t.Errorf("jackson-databind: licenses %q, want [Apache-2.0]", l)
	}
	if l, ok := got["org.apache.logging.log4j:log4j-core"]; !ok || l != nil {
		t.Errorf("log4j-core: licenses %q (found %v), want none", l, ok)
	}

	fat := zipOf(t,
		entry{"META-INF/maven/com.example/a/pom.properties", []byte("version=1.0\ngroupId=com.example\nartifactId=a\n")},
		entry{"META-INF/maven/com.example/a/pom.xml", []byte("<project><licenses><license><name>MIT License</name></license></licenses></project>")},
		entry{"META-INF/maven/org.example/b/pom.properties", []byte("version=2.0\ngroupId=org.example\nartifactId=b\n")},
		entry{"META-INF/maven/org.example/b/pom.xml", []byte("<project><licenses><license><name>Apache License, Version 2.0</name></license></licenses></project>")},
		entry{"META-INF/maven/org.example/c/pom.properties", []byte("version=3.0\ngroupId=org.example\nartifactId=c\n")},
	)
	res, err := java.New().Parse(context.Background(), "app/fat.jar", bytes.NewReader(fat))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"com.example:a": {"MIT"}, "org.example:b": {"Apache-2.0"}, "org.example:c": nil}
	for _, p := range res.Packages {
		if w, ok := want[p.Name]; !ok || !reflect.DeepEqual(p.Licenses, w) {
			t.Errorf("%s: licenses %q, want %q", p.Name, p.Licenses, w)
		}
	}
	if len(res.Packages) != len(want) {
		t.Errorf("%d packages, want %d", len(res.Packages), len(want))
	}
}

// TestPomTooLarge: a pom.xml beyond the 1 MiB read bound gives no
// licenses and does not fail the archive.
func TestPomTooLarge(t *testing.T) {
	big := append([]byte("<project><licenses><license><name>MIT</name></license></licenses>"), bytes.Repeat([]byte("<!-- pad -->"), (1<<20)/12+1)...)
	big = append(big, "</project>"...)
	jar := zipOf(t,
		entry{"META-INF/maven/com.example/a/pom.properties", []byte("version=1.0\ngroupId=com.example\nartifactId=a\n")},
		entry{"META-INF/maven/com.example/a/pom.xml", big},
	)
	res, err := java.New().Parse(context.Background(), "a.jar", bytes.NewReader(jar))
	if err != nil || len(res.Packages) != 1 || res.Packages[0].Licenses != nil {
		t.Fatalf("got %+v, %v; want one package without licenses", res.Packages, err)
	}
	small := zipOf(t,
		entry{"META-INF/maven/com.example/a/pom.properties", []byte("version=1.0\ngroupId=com.example\nartifactId=a\n")},
		entry{"META-INF/maven/com.example/a/pom.xml", big[:1<<20]},
	)
	res, err = java.New().Parse(context.Background(), "a.jar", bytes.NewReader(small))
	if err != nil || len(res.Packages) != 1 || !reflect.DeepEqual(res.Packages[0].Licenses, []string{"MIT"}) {
		t.Fatalf("at the bound: got %+v, %v; want MIT", res.Packages, err)
	}
}
