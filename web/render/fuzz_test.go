package render

import (
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzParseFilter feeds hostile query strings to the image page's
// filter: it never panics, and what it accepts is bounded and valid.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"severity=high&fixable=yes&kev=1&package=musl&id=CVE&ecosystem=npm&sort=id&dir=desc", "severity=%00", "package=%ff%fe", "sort=risk&sort=id", "kev=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := ParseFilter(q)
		if err != nil {
			return
		}
		for _, s := range []string{fl.Package, fl.ID, fl.Ecosystem} {
			if len(s) > MaxText || !utf8.ValidString(s) {
				t.Fatalf("accepted %q", s)
			}
		}
		_ = fl.Query(fl.Sort, fl.Desc).Encode()
	})
}
