package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/service"
)

// Error codes of the API: stable strings clients may rely on.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeImageNotFound    = "image_not_found"
	CodeRegistryDenied   = "registry_denied"
	CodeInvalidReference = "invalid_reference"
	CodeBadImage         = "bad_image"
	CodeCanceled         = "canceled"
	CodeInternal         = "internal"
	// CodeForbidden: the caller may not do this: its token lacks the
	// scope the route needs, or the server's configuration does not let
	// it open what was named (a local image outside server.local_images,
	// a registry at an internal address not in server.registries.allow).
	// HTTP 403.
	CodeForbidden = "forbidden"
	// CodeLimitExceeded: a bound on the input or the work was crossed
	// (the message names it and the configuration key that sets it).
	// HTTP 422.
	CodeLimitExceeded = "limit_exceeded"
)

// APIError is the body of every error response: {"error": {"code", "message"}}.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorBody struct {
	Error APIError `json:"error"`
}

// classify maps an error to its API code and HTTP status.
func classify(err error) (string, int) {
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled, 499
	case errors.Is(err, image.ErrForbidden):
		return CodeForbidden, http.StatusForbidden
	case errors.Is(err, limits.ErrExceeded):
		return CodeLimitExceeded, http.StatusUnprocessableEntity
	case errors.Is(err, image.ErrNotFound):
		return CodeImageNotFound, http.StatusNotFound
	case errors.Is(err, image.ErrUnauthorized):
		return CodeRegistryDenied, http.StatusBadGateway
	case errors.Is(err, image.ErrInvalidReference):
		return CodeInvalidReference, http.StatusBadRequest
	case errors.Is(err, image.ErrCorrupt):
		return CodeBadImage, http.StatusUnprocessableEntity
	case isConflict(err):
		return CodeConflict, http.StatusConflict
	case errors.Is(err, service.ErrNotFound):
		return CodeNotFound, http.StatusNotFound
	case errors.Is(err, service.ErrBadRequest):
		return CodeBadRequest, http.StatusBadRequest
	}
	return CodeInternal, http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers an error; credentials in the message (a URL's user
// information or secret query parameters) are redacted.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: APIError{Code: code, Message: redact.Text(msg)}})
}

// jobError is the failure of a scan job read back from the queue: it
// matches the sentinel of its code with errors.Is, as the error the job
// failed with did, so that it is classified the same again.
type jobError struct{ e APIError }

func (j jobError) Error() string { return j.e.Message }

// Is matches the sentinel of the job's error code.
func (j jobError) Is(target error) bool {
	switch j.e.Code {
	case CodeCanceled:
		return target == context.Canceled
	case CodeForbidden:
		return target == image.ErrForbidden
	case CodeLimitExceeded:
		return target == limits.ErrExceeded
	case CodeImageNotFound:
		return target == image.ErrNotFound
	case CodeRegistryDenied:
		return target == image.ErrUnauthorized
	case CodeInvalidReference:
		return target == image.ErrInvalidReference
	case CodeBadImage:
		return target == image.ErrCorrupt
	case CodeNotFound:
		return target == service.ErrNotFound
	case CodeBadRequest:
		return target == service.ErrBadRequest
	}
	return false
}

func writeErr(w http.ResponseWriter, err error) {
	code, status := classify(err)
	writeError(w, status, code, err.Error())
}
