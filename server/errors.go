package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lapps/lapps/image"
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

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: APIError{Code: code, Message: msg}})
}

func writeErr(w http.ResponseWriter, err error) {
	code, status := classify(err)
	writeError(w, status, code, err.Error())
}
