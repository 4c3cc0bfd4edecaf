package sqlite

import "testing"

// FuzzParseTime feeds parseTime, which reads every time this engine
// stored (as text, which another process or a hand in the sqlite3 shell
// may have written): nothing panics, and a time read is written back in
// the stored layout as the same instant, which sorts as text.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-05-01T12:00:00.000000000Z", "2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "", "z", "2024-13-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, err := parseTime(s)
		if err != nil {
			return
		}
		stored := formatTime(at)
		again, err := parseTime(stored)
		if err != nil {
			if at.Year() < 0 || at.Year() > 9999 {
				return // beyond the fixed-width layout, which RFC 3339 bounds too
			}
			t.Fatalf("%q read as %v, stored as %q, which does not read back: %v", s, at, stored, err)
		}
		if !again.Equal(at) {
			t.Fatalf("%q read as %v, stored as %q, read back as %v", s, at, stored, again)
		}
		if len(stored) != len("2006-01-02T15:04:05.000000000Z") && at.Year() >= 1000 {
			t.Fatalf("%v stored as %q, not fixed-width", at, stored)
		}
	})
}
