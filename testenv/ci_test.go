package testenv

import "testing"

// TestCI: CI set to any true value means CI (so that tests fail rather
// than skip), anything else does not.
func TestCI(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "TRUE": true, "1": true, "yes": true, "on": true, " True ": true,
		"": false, "false": false, "0": false, "no": false, "off": false, "maybe": false,
	} {
		t.Setenv("CI", v)
		if got := CI(); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, got, want)
		}
	}
}
