// Package api holds the wire types of lapps' HTTP API (the JSON bodies of
// /v1 requests and answers, the error body and its codes), shared by the
// server that answers with them and the client that reads them. It
// depends on the model only (the report), never on the server, so that a
// client links none of it. Package api/errcode maps errors to codes and
// back.
package api

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
	// CodeConflict is the code of a request that conflicts with what
	// exists (an app created twice): HTTP 409.
	CodeConflict = "conflict"
	// CodeNotAcceptable is the error code of a 406: no format of the
	// request (?format= or Accept) is served.
	CodeNotAcceptable = "not_acceptable"
)

// Error is the error of every error response: {"error": {"code",
// "message"}}, and the failure of a job.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error Error `json:"error"`
}
