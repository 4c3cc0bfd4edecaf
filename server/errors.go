package server

import (
	"encoding/json"
	"net/http"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/api/errcode"
	"github.com/lapps/lapps/redact"
)

// Error codes of the API: stable strings clients may rely on (package
// api, which documents each).
const (
	CodeBadRequest       = api.CodeBadRequest
	CodeUnauthorized     = api.CodeUnauthorized
	CodeNotFound         = api.CodeNotFound
	CodeImageNotFound    = api.CodeImageNotFound
	CodeRegistryDenied   = api.CodeRegistryDenied
	CodeInvalidReference = api.CodeInvalidReference
	CodeBadImage         = api.CodeBadImage
	CodeCanceled         = api.CodeCanceled
	CodeInternal         = api.CodeInternal
	CodeForbidden        = api.CodeForbidden
	CodeLimitExceeded    = api.CodeLimitExceeded
	CodeConflict         = api.CodeConflict
	CodeNotAcceptable    = api.CodeNotAcceptable
)

// classify maps an error to its API code and HTTP status.
func classify(err error) (string, int) { return errcode.Classify(err) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers an error; credentials in the message (a URL's user
// information or secret query parameters) are redacted.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: api.Error{Code: code, Message: redact.Text(msg)}})
}
func writeErr(w http.ResponseWriter, err error) {
	code, status := classify(err)
	writeError(w, status, code, err.Error())
}
