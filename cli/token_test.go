package cli

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/store/sqlite"
)

// TestTokenCommands: tokens made locally with scopes (default read,
// unknown scopes refused) and listed with them; with --server the token
// commands work on the server's tokens over its API with an admin token
// (a read token is refused, exit 4), and a token created remotely is one
// the server accepts, not one written to a local database.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LAPPS_SERVER", "")
	t.Setenv("LAPPS_TOKEN", "")
	serverDB := filepath.Join(dir, "server.db")

	if code, _, stderr := run(t, serverDB, "token", "create", "x", "--scope", "read,root"); code != ExitUsage || !strings.Contains(stderr, `"root"`) {
		t.Errorf("unknown scope: exit %d %s", code, stderr)
	}
	code, admin, stderr := run(t, serverDB, "token", "create", "admin", "--scope", "admin")
	if code != 0 || !strings.HasPrefix(admin, server.TokenPrefix) {
		t.Fatalf("create admin: exit %d %q %s", code, admin, stderr)
	}
	admin = strings.TrimSpace(admin)
	code, reader, _ := run(t, serverDB, "token", "create", "viewer")
	reader = strings.TrimSpace(reader)
	if code != 0 {
		t.Fatalf("create viewer: exit %d", code)
	}
	if code, out, _ := run(t, serverDB, "token", "list"); code != 0 || !strings.Contains(out, "SCOPES") || !strings.Contains(out, "viewer  read ") || !strings.Contains(out, "admin   admin ") {
		t.Errorf("token list: exit %d\n%s", code, out)
	}

	st, err := sqlite.Open(context.Background(), serverDB)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(nil, jobs.New(st, nil), server.WithTokens(server.StoreTokens{Store: st}), server.WithTokenAdmin(st))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close(); st.Close() })
	// --db names a database the remote commands must not touch.
	local := filepath.Join(dir, "local.db")

	t.Setenv("LAPPS_TOKEN", reader)
	if code, _, stderr := run(t, local, "--server", hs.URL, "token", "create", "ci"); code != ExitAccessDenied || !strings.Contains(stderr, "admin scope") {
		t.Errorf("create with a read token: exit %d %s", code, stderr)
	}
	t.Setenv("LAPPS_TOKEN", admin)
	code, ci, stderr := run(t, local, "--server", hs.URL, "token", "create", "ci", "--scope", "read,scan")
	if code != 0 || !strings.Contains(stderr, "created on the server") {
		t.Fatalf("remote create: exit %d %s", code, stderr)
	}
	ci = strings.TrimSpace(ci)
	if scopes, ok, err := (server.StoreTokens{Store: st}).CheckToken(context.Background(), ci); err != nil || !ok || strings.Join(scopes, ",") != "read,scan" {
		t.Errorf("the server does not know the remote token: %v %v %v", scopes, ok, err)
	}
	t.Setenv("LAPPS_SERVER", hs.URL)
	if code, out, _ := run(t, local, "token", "list"); code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "read,scan") {
		t.Errorf("remote list (LAPPS_SERVER): exit %d\n%s", code, out)
	}
	if code, _, stderr := run(t, local, "token", "revoke", "3"); code != 0 {
		t.Errorf("remote revoke: exit %d %s", code, stderr)
	}
	if _, ok, _ := (server.StoreTokens{Store: st}).CheckToken(context.Background(), ci); ok {
		t.Error("the revoked token is still valid")
	}
	if code, _, _ := run(t, local, "token", "revoke", "99"); code != ExitNoScan {
		t.Errorf("revoke an unknown token: exit %d", code)
	}
	t.Setenv("LAPPS_SERVER", "")
	if code, out, _ := run(t, local, "token", "list"); code != 0 || strings.Contains(out, "ci") {
		t.Errorf("the local database holds remote tokens: exit %d\n%s", code, out)
	}
}
