// Package errcode maps errors to the API's error codes (package api) and
// back: the server answers an error with the code and HTTP status of its
// sentinel, and a job's failure, stored as a code and a message, is read
// back as an error that matches the same sentinel.
package errcode

import (
	"context"
	"errors"
	"net/http"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// StatusCanceled is the status of a request cancelled by its caller
// (nginx's 499: no standard status says it).
const StatusCanceled = 499

// Classify maps an error to its API code and HTTP status.
func Classify(err error) (code string, status int) {
	switch {
	case errors.Is(err, context.Canceled):
		return api.CodeCanceled, StatusCanceled
	case errors.Is(err, image.ErrForbidden):
		return api.CodeForbidden, http.StatusForbidden
	case errors.Is(err, limits.ErrExceeded):
		return api.CodeLimitExceeded, http.StatusUnprocessableEntity
	case errors.Is(err, image.ErrNotFound):
		return api.CodeImageNotFound, http.StatusNotFound
	case errors.Is(err, image.ErrUnauthorized):
		return api.CodeRegistryDenied, http.StatusBadGateway
	case errors.Is(err, image.ErrInvalidReference):
		return api.CodeInvalidReference, http.StatusBadRequest
	case errors.Is(err, image.ErrCorrupt):
		return api.CodeBadImage, http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrExists):
		return api.CodeConflict, http.StatusConflict
	case errors.Is(err, service.ErrNotFound):
		return api.CodeNotFound, http.StatusNotFound
	case errors.Is(err, service.ErrBadRequest):
		return api.CodeBadRequest, http.StatusBadRequest
	}
	return api.CodeInternal, http.StatusInternalServerError
}

// Err returns e as an error: its message, matching with errors.Is the
// sentinel of its code, as the error it was made from did, so that it is
// classified the same again.
func Err(e api.Error) error { return codeError{e} }

// codeError is an API error read back (a scan job's failure).
type codeError struct{ e api.Error }

func (c codeError) Error() string { return c.e.Message }

// Is matches the sentinel of the error's code.
func (c codeError) Is(target error) bool {
	switch c.e.Code {
	case api.CodeCanceled:
		return target == context.Canceled
	case api.CodeForbidden:
		return target == image.ErrForbidden
	case api.CodeLimitExceeded:
		return target == limits.ErrExceeded
	case api.CodeImageNotFound:
		return target == image.ErrNotFound
	case api.CodeRegistryDenied:
		return target == image.ErrUnauthorized
	case api.CodeInvalidReference:
		return target == image.ErrInvalidReference
	case api.CodeBadImage:
		return target == image.ErrCorrupt
	case api.CodeNotFound:
		return target == service.ErrNotFound
	case api.CodeBadRequest:
		return target == service.ErrBadRequest
	}
	return false
}
