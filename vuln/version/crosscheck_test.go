package version

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	apklib "github.com/knqyf263/go-apk-version"
	deb "github.com/knqyf263/go-deb-version"
	rpmlib "github.com/knqyf263/go-rpm-version"
)

// The dpkg and rpm orderings are ports written for speed; these tests hold
// them to the libraries they replace and to rpm itself.

// longDigits reports whether v has a run of more than 18 digits, which
// go-deb-version turns into 0.
func longDigits(v string) bool {
	n := 0
	for i := 0; i < len(v); i++ {
		if isDigit(v[i]) {
			n++
			if n > 18 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

func TestDpkgAgreesWithGoDebVersion(t *testing.T) {
	vs := sample(realVersions(t)[Dpkg], 700)
	type pair struct {
		ours Version
		lib  deb.Version
	}
	var ps []pair
	for _, v := range vs {
		l, err := deb.NewVersion(v)
		if err != nil || longDigits(v) {
			continue
		}
		o, err := Dpkg.Parse(v)
		if err != nil {
			t.Errorf("Parse(%q): %v (go-deb-version accepts it)", v, err)
			continue
		}
		ps = append(ps, pair{o, l})
	}
	n := 0
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			n++
			if got, want := a.ours.Compare(b.ours), sign(a.lib.Compare(b.lib)); got != want {
				t.Errorf("Compare(%q, %q) = %d, go-deb-version says %d", a.ours, b.ours, got, want)
			}
		}
	}
	t.Logf("%d pairs of %d real Debian versions agree", n, len(ps))
}

func TestRPMAgreesWithGoRPMVersion(t *testing.T) {
	vs := sample(realVersions(t)[RPM], 700)
	var ours []Version
	var libs []rpmlib.Version
	for _, v := range vs {
		o, err := RPM.Parse(v)
		if err != nil {
			t.Errorf("Parse(%q): %v", v, err)
			continue
		}
		ours = append(ours, o)
		libs = append(libs, rpmlib.NewVersion(v))
	}
	for i := range ours {
		for j := i + 1; j < len(ours); j++ {
			if got, want := ours[i].Compare(ours[j]), sign(libs[i].Compare(libs[j])); got != want {
				t.Errorf("Compare(%q, %q) = %d, go-rpm-version says %d", ours[i], ours[j], got, want)
			}
		}
	}
}

// TestRPMAgreesWithRPM compares the rpm ordering with rpm's own
// labelCompare (python3-rpm) on the known pairs and on every pair of a
// sample of real EVRs. It is skipped where python3-rpm is not installed
// (.ci/run installs it).
func TestRPMAgreesWithRPM(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import rpm").Run(); err != nil {
		t.Skip("python3-rpm is not installed")
	}
	var pairs [][2]string
	for _, k := range knownPairs[RPM] {
		pairs = append(pairs, [2]string{k.a, k.b})
	}
	vs := sample(realVersions(t)[RPM], 250)
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			pairs = append(pairs, [2]string{vs[i], vs[j]})
		}
	}
	const script = `
import sys, rpm
def evr(s):
    e, _, vr = s.partition(":") if ":" in s else ("0", "", s)
    v, _, r = vr.rpartition("-") if "-" in vr else (vr, "", "")
    return (e or "0", v, r)
for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t")
    print(rpm.labelCompare(evr(a), evr(b)))
`
	var in strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&in, "%s\t%s\n", p[0], p[1])
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-rpm: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	i := 0
	for sc.Scan() {
		want, err := strconv.Atoi(sc.Text())
		if err != nil || i >= len(pairs) {
			t.Fatalf("python3-rpm output line %d: %q", i, sc.Text())
		}
		p := pairs[i]
		got, err := Compare(RPM, p[0], p[1])
		if err != nil {
			t.Errorf("Compare(%q, %q): %v", p[0], p[1], err)
		} else if got != want {
			t.Errorf("Compare(%q, %q) = %d, rpm.labelCompare says %d", p[0], p[1], got, want)
		}
		i++
	}
	if i != len(pairs) {
		t.Fatalf("python3-rpm answered %d of %d pairs", i, len(pairs))
	}
	t.Logf("%d pairs agree with rpm.labelCompare", len(pairs))
}

// badHyphen reports whether v has a hyphen not followed by "r": apk-tools
// rejects such versions, go-apk-version takes any character after the
// hyphen for the "r" of a revision. The Alpine secdb has four such keys,
// "1.11-20-r0", "2.7.16-33", "4.10-1-r1" and "57-1-r2"; lapps follows
// apk-tools (apk itself would refuse them), and the matcher warns.
func badHyphen(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] == '-' && (i+1 == len(v) || v[i+1] != 'r') {
			return true
		}
	}
	return false
}

func TestAPKAgreesWithGoAPKVersion(t *testing.T) {
	var vs []string
	for _, v := range sample(realVersions(t)[APK], 500) {
		_, err := APK.Parse(v)
		switch {
		case badHyphen(v):
			if err == nil {
				t.Errorf("Parse(%q) succeeded; apk-tools rejects a hyphen without r", v)
			}
			continue
		case (err == nil) != apklib.Valid(v):
			t.Errorf("Parse(%q): %v, go-apk-version says valid=%v", v, err, apklib.Valid(v))
		}
		vs = append(vs, v)
	}
	n := 0
	for i, a := range vs {
		for _, b := range vs[i+1:] {
			n++
			if got, want := apkCompare(a, b), sign(apklib.Version(a).Compare(apklib.Version(b))); got != want {
				t.Errorf("Compare(%q, %q) = %d, go-apk-version says %d", a, b, got, want)
			}
		}
	}
	t.Logf("%d pairs of real Alpine versions agree", n)
}

// FuzzAPKAgreesWithGoAPKVersion: the port and the library it replaces
// agree on validity and order.
func FuzzAPKAgreesWithGoAPKVersion(f *testing.F) {
	for _, k := range knownPairs[APK] {
		f.Add(k.a, k.b)
	}
	f.Add("1.0-r", "1.0_rc")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsFunc(a+b, func(r rune) bool { return r <= ' ' || r >= 0x7f }) || badHyphen(a) || badHyphen(b) {
			return
		}
		_, errA := APK.Parse(a)
		_, errB := APK.Parse(b)
		if errA == nil && !apklib.Valid(a) {
			t.Fatalf("Parse(%q) succeeded, go-apk-version says invalid", a)
		}
		if errA != nil || errB != nil {
			return
		}
		if got, want := apkCompare(a, b), sign(apklib.Version(a).Compare(apklib.Version(b))); got != want {
			t.Fatalf("Compare(%q, %q) = %d, go-apk-version says %d", a, b, got, want)
		}
	})
}
