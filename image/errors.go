package image

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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

// registryError classifies an error from go-containerregistry into the
// sentinels above and names the image and, where it helps, the remedy.
func registryError(image string, err error) error {
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		codes := map[transport.ErrorCode]bool{}
		for _, d := range terr.Errors {
			codes[d.Code] = true
		}
		switch {
		case codes[transport.ManifestUnknownErrorCode], codes[transport.NameUnknownErrorCode],
			codes[transport.BlobUnknownErrorCode], terr.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %s: %w", ErrNotFound, image, err)
		case codes[transport.UnauthorizedErrorCode], codes[transport.DeniedErrorCode],
			terr.StatusCode == http.StatusUnauthorized, terr.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %s: the registry refused access (check the credentials in the lapps config or `docker login`): %w", ErrUnauthorized, image, err)
		case terr.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%s: rate limited by the registry (429; retries exhausted, or Retry-After beyond the wait limit): %w", image, err)
		}
		return fmt.Errorf("%s: %w", image, err)
	}
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
