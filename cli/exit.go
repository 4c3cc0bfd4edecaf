package cli

import (
	"context"
	"errors"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/service"
)

// Exit codes, documented in the README.
const (
	ExitOK = 0
	// ExitError: an unexpected failure (database, network, a bug).
	ExitError = 1
	// ExitUsage: bad flags, arguments or configuration.
	ExitUsage = 2
	// ExitImageNotFound: the image, tag, file or directory does not exist.
	ExitImageNotFound = 3
	// ExitAccessDenied: the registry refused (401/403), the lapps server
	// refused the token, or the configuration does not allow the image
	// (image.ErrForbidden: a local path outside server.local_images, a
	// registry at an internal address).
	ExitAccessDenied = 4
	// ExitBadImage: the image is corrupt or unreadable (bad reference,
	// manifest, layer digest mismatch, truncated layer), or crosses a
	// bound of the limits section.
	ExitBadImage = 5
	// ExitNoScan: list/report asked for an image or scan never recorded.
	ExitNoScan = 6
	// ExitVulnDB: a vulnerability source failed to update.
	ExitVulnDB = 7
	// ExitCanceled: interrupted.
	ExitCanceled = 8
	// ExitFindings: --fail-on found a finding at or above the threshold.
	ExitFindings = 10
	// ExitRefused: `lapps app deploy` refused the deployment (its policy
	// verdict is fail); the reasons are on stderr, one per line, and the
	// refusal is recorded in the app's history.
	ExitRefused = 11
)

// usageError marks an error in how lapps was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitError carries a chosen exit code.
type exitError struct {
	code   int
	err    error
	silent bool // already reported to the user
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func isSilent(err error) bool {
	var ee exitError
	return errors.As(err, &ee) && ee.silent
}

func exitCode(err error) int {
	var ee exitError
	var ue usageError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitCanceled
	case errors.Is(err, image.ErrNotFound):
		return ExitImageNotFound
	case errors.Is(err, image.ErrUnauthorized), errors.Is(err, client.ErrUnauthorized):
		return ExitAccessDenied
	case errors.Is(err, image.ErrInvalidReference):
		return ExitUsage
	case errors.Is(err, image.ErrCorrupt), errors.Is(err, limits.ErrExceeded):
		// An image that crosses a bound (limits.*) cannot be read as
		// configured: unreadable, like a corrupt one.
		return ExitBadImage
	case errors.Is(err, image.ErrForbidden):
		return ExitAccessDenied
	case errors.Is(err, service.ErrNotFound):
		return ExitNoScan
	case errors.Is(err, service.ErrBadRequest):
		return ExitUsage
	}
	return ExitError
}
