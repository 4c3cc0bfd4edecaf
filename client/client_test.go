package client

import (
	"strings"
	"testing"

	"github.com/lapps/lapps/api"
)

// TestAPIErrorText: a job's error (no HTTP status) does not end in
// "(HTTP 0)"; an answer's error names its status once.
func TestAPIErrorText(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{
		{0, "server: scan failed"},
		{500, "server: scan failed (HTTP 500)"},
	} {
		err := apiError(api.Error{Code: api.CodeInternal, Message: "scan failed"}, tc.status)
		if err.Error() != tc.want || strings.Contains(err.Error(), "HTTP 0") {
			t.Errorf("status %d: %q, want %q", tc.status, err, tc.want)
		}
	}
}
