package version

import (
	"fmt"
	"strings"

	gem "github.com/aquasecurity/go-gem-version"
	pep440 "github.com/aquasecurity/go-pep440-version"
	generic "github.com/aquasecurity/go-version/pkg/version"
	mvn "github.com/masahiro331/go-mvn-version"
	"golang.org/x/mod/semver"
)

// semverOrdering compares with golang.org/x/mod/semver, adding the "v"
// prefix that package requires and that npm, crates.io and the Go
// vulnerability database leave out.
type semverOrdering struct {
	name string
	// goToolchain accepts Go toolchain versions (go1.21.5, go1.22rc1) as
	// the Go vulnerability database orders them (v1.22.0-rc.1).
	goToolchain bool
}

func (o semverOrdering) Name() string { return o.name }

type semverVersion struct{ raw, v string }

func (v semverVersion) String() string { return v.raw }

func (v semverVersion) Compare(w Version) int {
	o, ok := w.(semverVersion)
	if !ok {
		return mismatch(v, w)
	}
	return semver.Compare(v.v, o.v)
}

func (o semverOrdering) Parse(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	if err := checkText(o.name, raw); err != nil {
		return nil, err
	}
	v := raw
	if o.goToolchain && strings.HasPrefix(v, "go") {
		v = goToolchainSemver(v)
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return nil, fmt.Errorf("%s version %q: not a semantic version", o.name, raw)
	}
	return semverVersion{raw: raw, v: v}, nil
}

// goToolchainSemver turns a Go toolchain version into the semantic
// version the Go vulnerability database uses: go1.20 → v1.20.0,
// go1.21.5 → v1.21.5, go1.22rc1 → v1.22.0-rc.1, go1.9beta2 → v1.9.0-beta.2.
// Anything else is returned unchanged (and then fails validation).
func goToolchainSemver(v string) string {
	s := strings.TrimPrefix(v, "go")
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(s, tag); i > 0 {
			pre = "-" + tag + "." + s[i+len(tag):]
			s = s[:i]
			break
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return v
	}
	for _, p := range parts {
		if !allDigits(p) {
			return v
		}
	}
	if len(parts) == 2 {
		s += ".0"
	}
	return "v" + s + pre
}

// pep440Ordering wraps github.com/aquasecurity/go-pep440-version.
type pep440Ordering struct{}

func (pep440Ordering) Name() string { return "pep440" }

type pep440Version struct {
	raw string
	v   pep440.Version
}

func (v pep440Version) String() string { return v.raw }

func (v pep440Version) Compare(w Version) int {
	o, ok := w.(pep440Version)
	if !ok {
		return mismatch(v, w)
	}
	return sign(v.v.Compare(o.v))
}

func (pep440Ordering) Parse(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	if err := checkText("pep440", raw); err != nil {
		return nil, err
	}
	v, err := pep440.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("pep440 version %q: %w", raw, err)
	}
	return pep440Version{raw: raw, v: v}, nil
}

// mavenOrdering wraps github.com/masahiro331/go-mvn-version, a port of
// Maven's ComparableVersion. Every non-empty string is a Maven version.
type mavenOrdering struct{}

func (mavenOrdering) Name() string { return "maven" }

type mavenVersion struct{ v mvn.Version }

func (v mavenVersion) String() string { return v.v.String() }

func (v mavenVersion) Compare(w Version) int {
	o, ok := w.(mavenVersion)
	if !ok {
		return mismatch(v, w)
	}
	return sign(v.v.Compare(o.v))
}

func (mavenOrdering) Parse(s string) (v Version, err error) {
	raw := strings.TrimSpace(s)
	if err := checkText("maven", raw); err != nil {
		return nil, err
	}
	mv, err := mvn.NewVersion(raw)
	if err != nil {
		return nil, fmt.Errorf("maven version %q: %w", raw, err)
	}
	return mavenVersion{mv}, nil
}

// gemOrdering wraps github.com/aquasecurity/go-gem-version, a port of
// Gem::Version.
type gemOrdering struct{}

func (gemOrdering) Name() string { return "rubygems" }

type gemVersion struct {
	raw string
	v   gem.Version
}

func (v gemVersion) String() string { return v.raw }

func (v gemVersion) Compare(w Version) int {
	o, ok := w.(gemVersion)
	if !ok {
		return mismatch(v, w)
	}
	return sign(v.v.Compare(o.v))
}

func (gemOrdering) Parse(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	if err := checkText("rubygems", raw); err != nil {
		return nil, err
	}
	v, err := gem.NewVersion(raw)
	if err != nil {
		return nil, fmt.Errorf("rubygems version %q: %w", raw, err)
	}
	return gemVersion{raw: raw, v: v}, nil
}

// genericOrdering wraps github.com/aquasecurity/go-version: any number of
// numeric parts, then a semver-style pre-release. NuGet (four parts,
// case-insensitive pre-releases) and Composer versions fit it.
type genericOrdering struct {
	name     string
	foldCase bool
	stripV   bool
}

func (o genericOrdering) Name() string { return o.name }

type genericVersion struct {
	raw string
	v   generic.Version
}

func (v genericVersion) String() string { return v.raw }

func (v genericVersion) Compare(w Version) int {
	o, ok := w.(genericVersion)
	if !ok {
		return mismatch(v, w)
	}
	return sign(v.v.Compare(o.v))
}

func (o genericOrdering) Parse(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	if err := checkText(o.name, raw); err != nil {
		return nil, err
	}
	t := raw
	if o.foldCase {
		t = strings.ToLower(t)
	}
	if o.stripV {
		t = strings.TrimPrefix(strings.TrimPrefix(t, "v"), "V")
	}
	v, err := generic.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("%s version %q: %w", o.name, raw, err)
	}
	return genericVersion{raw: raw, v: v}, nil
}
