// Package redact removes credentials from what lapps shows and stores:
// the user information of URLs (https://user:secret@host/…) and query
// parameters that carry secrets (?token=…, ?api_key=…, X-Amz-Signature, …),
// in URLs on their own and in free text such as error messages, log lines,
// source statuses and the stored errors of deliveries.
//
// It is written here rather than taken from a library because none found
// covers both URLs embedded in arbitrary text and query parameters by name;
// net/url's URL.Redacted only hides a password.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "REDACTED"

// sensitiveParams are query parameter names (lower case) whose values are
// secrets. A name is also sensitive when it ends with one of
// sensitiveSuffixes ("x-amz-security-token", "private_key").
var sensitiveParams = map[string]bool{
	"token": true, "access_token": true, "id_token": true, "refresh_token": true, "auth": true,
	"authorization": true, "key": true, "apikey": true, "api_key": true, "api-key": true,
	"password": true, "passwd": true, "pwd": true, "pass": true, "secret": true,
	"client_secret": true, "signature": true, "sig": true, "x-amz-signature": true,
	"x-amz-credential": true, "x-amz-security-token": true, "x-goog-signature": true,
	"x-goog-credential": true, "code": true, "session": true, "sessionid": true, "credential": true,
	"credentials": true, "private_token": true, "sas": true,
}

var sensitiveSuffixes = []string{"token", "secret", "password", "signature", "_key", "-key", "apikey"}

// SensitiveParam reports whether a query parameter of this name carries a
// secret.
func SensitiveParam(name string) bool {
	n := strings.ToLower(name)
	if v, ok := sensitiveParams[n]; ok {
		return v
	}
	for _, s := range sensitiveSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// URL returns raw with its user information and secret query parameter
// values replaced by Mask. A string that does not parse as a URL with a
// scheme and a host is returned as Text would return it.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return Text(raw)
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	changed := false
	if u.User != nil {
		u.User = url.User(Mask)
		changed = true
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			// An unparsable query may still hold a secret: drop it whole.
			u.RawQuery = Mask
			changed = true
		} else {
			for k, vs := range q {
				if SensitiveParam(k) {
					for i := range vs {
						vs[i] = Mask
					}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
	}
	if u.Fragment != "" && strings.Contains(u.Fragment, "=") {
		// OAuth implicit flows put tokens in the fragment.
		u.Fragment, u.RawFragment = Mask, ""
		changed = true
	}
	s := u.String()
	if !changed {
		return s
	}
	// url.String escapes the mask's user: keep it readable.
	return strings.Replace(s, url.QueryEscape(Mask)+"@", Mask+"@", 1)
}

// urlInText finds URLs with a scheme inside free text. It stops at
// whitespace, quotes and the brackets that usually enclose a URL in
// messages.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s"'<>()\[\]{}` + "`" + `]+`)

// userinfoInText finds "scheme://user:pass@" even where the rest of the
// URL would not parse.
var userinfoInText = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]{1,15}://)[^\s/@"'<>]+@`)

// Text returns s with every URL in it redacted as URL does.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	s = urlInText.ReplaceAllStringFunc(s, func(m string) string {
		// A URL ending a sentence keeps its full stop or comma outside.
		trail := ""
		for len(m) > 0 && strings.ContainsRune(".,;:!?", rune(m[len(m)-1])) {
			trail = m[len(m)-1:] + trail
			m = m[:len(m)-1]
		}
		u, err := url.Parse(m)
		if err != nil {
			// A URL that does not parse may still carry secrets: its
			// query goes whole (its user information below).
			if i := strings.IndexAny(m, "?#"); i >= 0 {
				m = m[:i+1] + Mask
			}
			return m + trail
		}
		if u.Host == "" {
			return m + trail
		}
		return redactURL(u) + trail
	})
	return userinfoInText.ReplaceAllString(s, "${1}"+Mask+"@")
}

// Error returns err with its message redacted by Text; errors.Is and
// errors.As still see the errors it wraps. A nil err gives nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Text(msg)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// Is keeps errors.Is working through redaction for sentinel errors that
// are compared by identity.
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }
