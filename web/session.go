package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Cookie names. The session cookie is HttpOnly, SameSite=Strict and
// Secure when the request came over TLS.
const (
	sessionCookie = "lapps_session"
	// preCookie carries the CSRF token of the sign-in form, before there
	// is a session (against login CSRF).
	preCookie = "lapps_signin"
)

// maxCookie bounds the cookie values read.
const maxCookie = 512

// session is what a session cookie carries, signed with the console's
// key: the hash of the token signed in with (what the store keeps, not
// the token; empty when the server requires no token), the expiry, and
// a random nonce that makes each session's CSRF token its own.
//
// Why a signed cookie rather than a table: replicas on one database
// share nothing else but the key, sign-in needs no write, and every
// request still checks in the store that the token is not revoked (and
// reads its scopes there), so revoking a token ends its sessions at
// once. Signing out clears the cookie; a copy of the cookie taken before
// stays valid until it expires (server.console.session_ttl) or its
// token is revoked.
type session struct {
	tokenHash []byte
	expires   time.Time
	nonce     [16]byte
}

// encode returns the cookie value: base64url(version | expiry | nonce |
// hash) "." base64url(HMAC-SHA256).
func (s *session) encode(key []byte) string {
	b := make([]byte, 0, 1+8+16+len(s.tokenHash))
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(s.expires.Unix()))
	b = append(b, s.nonce[:]...)
	b = append(b, s.tokenHash...)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac(key, "session", b))
}

var errSession = errors.New("no valid session")

// decodeSession checks a cookie value's signature and expiry.
func decodeSession(key []byte, v string, now time.Time) (*session, error) {
	if len(v) > maxCookie {
		return nil, errSession
	}
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, errSession
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	s, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(s, mac(key, "session", b)) {
		return nil, errSession
	}
	if len(b) < 1+8+16 || b[0] != 1 {
		return nil, errSession
	}
	ses := &session{expires: time.Unix(int64(binary.BigEndian.Uint64(b[1:9])), 0)}
	copy(ses.nonce[:], b[9:25])
	if h := b[25:]; len(h) > 0 {
		if len(h) != sha256.Size {
			return nil, errSession
		}
		ses.tokenHash = h
	}
	if !now.Before(ses.expires) {
		return nil, errSession
	}
	return ses, nil
}

// csrf is the session's CSRF token: a MAC of its nonce, so that it needs
// no storage and changes with every sign-in.
func (s *session) csrf(key []byte) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, "csrf", s.nonce[:]))
}

func mac(key []byte, purpose string, b []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum(nil)
}

// sameToken compares two CSRF tokens in constant time.
func sameToken(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// randomToken returns 16 random bytes, base64url.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// setCookie sets a cookie of the console: HttpOnly, SameSite=Strict,
// Secure over TLS, for every path.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
