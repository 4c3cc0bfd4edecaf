package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/web"
)

// TestConsoleMounted checks the console's place among the routes: / and
// its pages are the console's (a page without a session redirects to
// sign-in, a bearer token is enough), the JSON API and Harbor keep their
// answers, unknown /v1 paths keep their JSON 404, and a revoked token's
// session ends.
func TestConsoleMounted(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, hash, err := NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, "reader", hash, []string{ScopeRead}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, fakeService{}, st, WithTokens(StoreTokens{Store: st}), WithConsole(st, web.Options{}))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, token string
		status      int
		want        string // in the body, or the Location
	}{
		{"/", "", http.StatusSeeOther, "/signin?next=%2F"},
		{"/sources", "", http.StatusSeeOther, "/signin"},
		{"/signin", "", 200, `name="token"`},
		{"/static/style.css", "", 200, "lapps console"},
		{"/", secret, 200, "Applications × environments"},
		{"/sources", secret, 200, "Sources and jobs"},
		{"/", "lapps_wrong", http.StatusUnauthorized, "Invalid or revoked token"},
		{"/v1/sources", "", http.StatusUnauthorized, `"unauthorized"`},
		{"/v1/sources", secret, 200, ""},
		{"/v1/nothing", secret, http.StatusNotFound, `"not_found"`},
		{"/harbor/nothing", secret, http.StatusNotFound, `"not_found"`},
		{"/healthz", "", 200, "ok"},
	} {
		req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(b) + resp.Header.Get("Location")
		if resp.StatusCode != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("GET %s: %d %.200q, want %d with %q", tc.path, resp.StatusCode, got, tc.status, tc.want)
		}
		if strings.HasPrefix(tc.path, "/v1/") && resp.StatusCode == http.StatusNotFound && !json.Valid(b) {
			t.Errorf("GET %s: not JSON: %s", tc.path, b)
		}
	}
	// A session of a revoked token ends at once.
	toks, _ := st.ListTokens(ctx)
	if err := st.RevokeToken(ctx, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}
}
