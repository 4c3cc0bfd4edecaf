package config

import (
	"strings"
	"testing"
)

// TestHarborCredentialsKey: the key is read from the file or the
// environment variable it names, and a short one is refused.
func TestHarborCredentialsKey(t *testing.T) {
	t.Setenv("E2E_HARBOR_KEY", "from-the-environment-key")
	for _, c := range []struct {
		name, yaml, key, err string
	}{
		{"none", "server: {}\n", "", ""},
		{"in the file", "server:\n  harbor:\n    credentials_key: 0123456789abcdef\n", "0123456789abcdef", ""},
		{"from the environment", "server:\n  harbor:\n    credentials_key_env: E2E_HARBOR_KEY\n", "from-the-environment-key", ""},
		{"too short", "server:\n  harbor:\n    credentials_key: short\n", "", "at least 16 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(write(t, c.yaml))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Server.Harbor.Key(); got != c.key {
				t.Errorf("key %q, want %q", got, c.key)
			}
		})
	}
}
