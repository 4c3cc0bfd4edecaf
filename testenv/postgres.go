package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresDSN creates a schema of its own for the test on the PostgreSQL
// server of LAPPS_TEST_POSTGRES_DSN (.ci/postgres.sh starts one and prints
// it), dropped when the test ends, and returns the DSN with search_path set
// to it: the test's tables and migrations live there, apart from every
// other test's. Without the variable the test skips (fails under CI).
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("LAPPS_TEST_POSTGRES_DSN")
	if dsn == "" {
		Missing(tb, "LAPPS_TEST_POSTGRES_DSN is not set (.ci/postgres.sh starts a PostgreSQL and prints it)")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "lapps_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("LAPPS_TEST_POSTGRES_DSN is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
