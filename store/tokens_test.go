package store

import (
	"strings"
	"testing"
	"time"
)

func TestNewToken(t *testing.T) {
	hash := make([]byte, 32)
	at := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		hash   []byte
		scopes []string
		err    string
		stored string
	}{
		{name: "short hash", hash: hash[:31], scopes: []string{"read"}, err: `create token "ci": hash of 31 bytes, want 32 (SHA-256)`},
		{name: "no scopes", hash: hash, err: `create token "ci": token scopes`},
		{name: "bad scope", hash: hash, scopes: []string{"read,admin"}, err: "want a word of lower-case letters"},
		{name: "two scopes", hash: hash, scopes: []string{"read", "scan"}, stored: "read,scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, stored, err := NewToken("ci", tc.hash, tc.scopes, at)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stored != tc.stored || tok.Name != "ci" || !tok.CreatedAt.Equal(at) || tok.ID != 0 || strings.Join(SplitTokenScopes(stored), ",") != tc.stored {
				t.Errorf("got %+v, %q", tok, stored)
			}
			tc.scopes[0] = "changed"
			if tok.Scopes[0] == "changed" {
				t.Error("the token shares the caller's scopes")
			}
		})
	}
}
