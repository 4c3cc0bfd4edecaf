package store

import (
	"fmt"
	"slices"
	"strings"
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
