package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxTokenScopes bounds the scopes of one token.
const maxTokenScopes = 16

// CheckTokenScopes validates the scopes given to Tokens.CreateToken alike
// for every engine: at least one, at most 16, each a non-empty word of
// lower-case letters (they are stored comma-separated), none repeated.
func CheckTokenScopes(scopes []string) error {
	if len(scopes) == 0 || len(scopes) > maxTokenScopes {
		return fmt.Errorf("token scopes %q: want 1 to %d scopes", scopes, maxTokenScopes)
	}
	for i, sc := range scopes {
		if sc == "" || len(sc) > 32 || strings.IndexFunc(sc, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
			return fmt.Errorf("token scope %q: want a word of lower-case letters", sc)
		}
		if slices.Contains(scopes[:i], sc) {
			return fmt.Errorf("token scope %q given twice", sc)
		}
	}
	return nil
}

// SplitTokenScopes reads the comma-separated scopes an engine stores.
func SplitTokenScopes(stored string) []string {
	var out []string
	for _, sc := range strings.Split(stored, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			out = append(out, sc)
		}
	}
	return out
}

// NewToken checks a CreateToken call (hash of 32 bytes, the SHA-256 of the
// secret; scopes as CheckTokenScopes wants them) and returns the token to
// store, created at at and without its id, with its scopes as both
// engines store them (comma-separated). Errors are CreateToken's, whole.
func NewToken(name string, hash []byte, scopes []string, at time.Time) (*Token, string, error) {
	if len(hash) != 32 {
		return nil, "", fmt.Errorf("create token %q: hash of %d bytes, want 32 (SHA-256)", name, len(hash))
	}
	if err := CheckTokenScopes(scopes); err != nil {
		return nil, "", fmt.Errorf("create token %q: %w", name, err)
	}
	return &Token{Name: name, CreatedAt: at, Scopes: slices.Clone(scopes)}, strings.Join(scopes, ","), nil
}
