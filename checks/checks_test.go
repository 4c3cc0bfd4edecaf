package checks

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ghp_abcdefghijklmnop": "ghp_****",
		"short":                "****",
		"12345678":             "****",
		"123456789":            "1234****",
		"éèêëàâäô9":            "éèêë****",
		"":                     "****",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
