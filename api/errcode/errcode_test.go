package errcode

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// TestErrSentinels: an error read back from its code (a job's failure
// that a deployment waits for) matches the sentinel of its code, so that
// it is answered with the same code and status as the error itself.
func TestErrSentinels(t *testing.T) {
	for _, err := range []error{context.Canceled, image.ErrForbidden, limits.New("x", 1, "bytes", "k"), image.ErrNotFound,
		image.ErrUnauthorized, image.ErrCorrupt, image.ErrInvalidReference, service.ErrNotFound, service.ErrBadRequest} {
		code, status := Classify(fmt.Errorf("x: %w", err))
		if code == api.CodeInternal {
			t.Errorf("%v: classified internal", err)
		}
		back := Err(api.Error{Code: code, Message: "x"})
		if c2, s2 := Classify(back); c2 != code || s2 != status {
			t.Errorf("%v: %s %d read back as %s %d", err, code, status, c2, s2)
		}
	}
	if c, s := Classify(errors.New("other")); c != api.CodeInternal || s != 500 {
		t.Errorf("an unknown error: %s %d", c, s)
	}
	if c, _ := Classify(fmt.Errorf("app: %w", store.ErrExists)); c != api.CodeConflict {
		t.Errorf("exists: %s", c)
	}
	if errors.Is(Err(api.Error{Code: api.CodeInternal, Message: "x"}), service.ErrNotFound) {
		t.Error("an internal error matches a sentinel")
	}
}

// TestJobStates: the API shows a job's state as the store keeps it.
func TestJobStates(t *testing.T) {
	for _, p := range [][2]string{{api.JobQueued, store.JobQueued}, {api.JobRunning, store.JobRunning},
		{api.JobSucceeded, store.JobSucceeded}, {api.JobFailed, store.JobFailed}} {
		if p[0] != p[1] {
			t.Errorf("api state %q, store state %q", p[0], p[1])
		}
	}
}
