package image

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/redact"
)

// Sentinel errors the command line maps to exit codes; test with errors.Is.
// Errors from Open wrap one of them where it applies, and always name the
// image.
var (
	// ErrNotFound: the image, tag, file, layout entry or platform does not
	// exist (registry MANIFEST_UNKNOWN / NAME_UNKNOWN / 404, missing file).
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: the registry refused the credentials, or asked for
	// some and none were configured (401 / 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalidReference: the reference cannot be parsed.
	ErrInvalidReference = errors.New("invalid image reference")
)

// PlatformError reports that a multi-platform image has no manifest for the
// requested platform. It matches ErrNotFound with errors.Is.
type PlatformError struct {
	// Image is the image's name.
	Image string
	// Want is the platform asked for ("linux/amd64").
	Want string
	// Available are the platforms the index holds.
	Available []string
}

// Error implements error.
func (e *PlatformError) Error() string {
	avail := strings.Join(e.Available, ", ")
	if avail == "" {
		avail = "none"
	}
	return fmt.Sprintf("no %s image in %s; available: %s", e.Want, e.Image, avail)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *PlatformError) Is(target error) bool { return target == ErrNotFound }

// registryCodes are the error codes of the distribution API that errors
// repeat; any other code a registry sends is shown as "other code", so
// that nothing a server chose to say travels back through lapps' errors.
var registryCodes = map[transport.ErrorCode]bool{
	transport.BlobUnknownErrorCode: true, transport.BlobUploadInvalidErrorCode: true,
	transport.BlobUploadUnknownErrorCode: true, transport.DigestInvalidErrorCode: true,
	transport.ManifestBlobUnknownErrorCode: true, transport.ManifestInvalidErrorCode: true,
	transport.ManifestUnknownErrorCode: true, transport.ManifestUnverifiedErrorCode: true,
	transport.NameInvalidErrorCode: true, transport.NameUnknownErrorCode: true,
	transport.SizeInvalidErrorCode: true, transport.TagInvalidErrorCode: true,
	transport.UnauthorizedErrorCode: true, transport.DeniedErrorCode: true,
	transport.UnsupportedErrorCode: true, transport.TooManyRequestsErrorCode: true,
	transport.UnknownErrorCode: true, transport.UnavailableErrorCode: true,
}

// registryAnswer describes a registry's error response by what lapps may
// repeat: the request (URL redacted), the HTTP status and the registry
// error codes. Never the body, nor the codes' messages and details: with
// a registry address chosen by a caller, they would make lapps an oracle
// for what an internal server answers.
func registryAnswer(terr *transport.Error) string {
	var codes []string
	for _, d := range terr.Errors {
		// In words (MANIFEST_UNKNOWN: manifest unknown); never a Go
		// value such as the code's detail map[Tag:…].
		c := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		if !registryCodes[d.Code] {
			c = "other code"
		}
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	s := fmt.Sprintf("registry answered %d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
	if len(codes) > 0 {
		s += " (" + strings.Join(codes, ", ") + ")"
	}
	if terr.Request != nil && terr.Request.URL != nil {
		s = terr.Request.Method + " " + redact.URL(terr.Request.URL.String()) + ": " + s
	}
	return s
}

// safeMessage is the text of an error from go-containerregistry that is
// not a registry error response: credentials redacted, cut at its first
// line (the library appends a token server's whole answer after a line
// break when it holds no token) and at 512 bytes.
func safeMessage(err error) string {
	msg, _, cut := strings.Cut(err.Error(), "\n")
	if len(msg) > 512 {
		msg, cut = msg[:512], true
	}
	msg = redact.Text(msg)
	if cut {
		msg += " […]"
	}
	return msg
}

// ssrfRefusal matches go-containerregistry's own refusals of private and
// link-local IP literals (a token realm, a redirect, a foreign layer URL).
func ssrfRefusal(msg string) bool {
	return strings.Contains(msg, "is a private or link-local address") || strings.Contains(msg, "SSRF protection")
}

// registryError classifies an error from go-containerregistry into the
// sentinels above and names the image and, where it helps, the remedy. A
// registry's error response is described by its status and error codes
// only (registryAnswer); other errors are redacted (safeMessage). A
// crossed bound is returned as is, naming the image.
func registryError(image string, err error) error {
	if err == nil {
		return nil
	}
	var lerr *limits.Error
	if errors.As(err, &lerr) {
		return fmt.Errorf("%s: %w", image, lerr)
	}
	if errors.Is(err, ErrForbidden) {
		return fmt.Errorf("%s: %w", image, redact.Error(err))
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		codes := map[transport.ErrorCode]bool{}
		for _, d := range terr.Errors {
			codes[d.Code] = true
		}
		answer := registryAnswer(terr)
		switch {
		case codes[transport.ManifestUnknownErrorCode], codes[transport.NameUnknownErrorCode],
			codes[transport.BlobUnknownErrorCode], terr.StatusCode == http.StatusNotFound:
			if tag := refTag(image); tag != "" && codes[transport.ManifestUnknownErrorCode] && !codes[transport.NameUnknownErrorCode] {
				return fmt.Errorf("%w: %s: the repository has no tag %s (%s)", ErrNotFound, image, tag, answer)
			}
			return fmt.Errorf("%w: %s: %s", ErrNotFound, image, answer)
		case codes[transport.UnauthorizedErrorCode], codes[transport.DeniedErrorCode],
			terr.StatusCode == http.StatusUnauthorized, terr.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %s: the registry refused access (check the credentials in the lapps config or `docker login`): %s", ErrUnauthorized, image, answer)
		case terr.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%s: rate limited by the registry (429; retries exhausted, or Retry-After beyond the wait limit): %s", image, answer)
		}
		return fmt.Errorf("%s: %s", image, answer)
	}
	if msg := err.Error(); ssrfRefusal(msg) {
		return fmt.Errorf("%w: %s: %s", ErrForbidden, image, safeMessage(err))
	}
	err = &safeError{msg: safeMessage(err), err: err}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		recErr      tls.RecordHeaderError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused (is the registry running and the port right?): %w", image, err)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return fmt.Errorf("%s: TLS certificate not trusted (install the registry's CA, or use --insecure for a test registry): %w", image, err)
	case errors.As(err, &recErr):
		return fmt.Errorf("%s: TLS handshake failed, the registry may speak plain HTTP (use --insecure): %w", image, err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: registry host not found: %w", image, err)
	}
	return fmt.Errorf("%s: %w", image, err)
}

// safeError shows a redacted message and keeps the error it stands for
// (errors.Is, errors.As), which must not be printed.
type safeError struct {
	msg string
	err error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.err }

// refTag returns the tag of a registry reference (debian:12 → 12), or ""
// for a digest reference or none.
func refTag(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(last, ":"); ok {
		return tag
	}
	return ""
}
