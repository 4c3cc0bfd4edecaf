package web

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
		fl, err := parseFilter(q)
		if err != nil {
			return
		}
		for _, s := range []string{fl.Package, fl.ID, fl.Ecosystem} {
			if len(s) > maxText || !utf8.ValidString(s) {
				t.Fatalf("accepted %q", s)
			}
		}
		_ = fl.query(fl.Sort, fl.Desc).Encode()
	})
}

// FuzzDecodeSession feeds hostile cookie values to the session check:
// none is accepted without the key's signature.
func FuzzDecodeSession(f *testing.F) {
	key := []byte("0123456789abcdef")
	good := (&session{expires: t0.Add(1e12)}).encode(key)
	f.Add(good)
	f.Add("AQ.xx")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := decodeSession(key, v, t0)
		if err == nil && v != good && (&session{tokenHash: s.tokenHash, expires: s.expires, nonce: s.nonce}).encode(key) != v {
			t.Fatalf("accepted a cookie that is not what the key signs: %q", v)
		}
	})
}
