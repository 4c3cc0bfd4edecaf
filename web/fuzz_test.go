package web

import (
	"testing"
)

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
