package server

import (
	"strings"
	"testing"
	"time"
)

// TestConditionalHeaders: If-None-Match and Accept-Encoding as clients
// send them, and hostile ones (bounded work).
func TestConditionalHeaders(t *testing.T) {
	const tag = `"abc"`
	for _, c := range []struct {
		inm  []string
		want bool
	}{
		{[]string{`"abc"`}, true},
		{[]string{`W/"abc"`}, true},
		{[]string{`"abc-gz"`}, true},
		{[]string{`"x", "abc"`}, true},
		{[]string{`"x"`, `"abc"`}, true},
		{[]string{`*`}, true},
		{[]string{`"abcd"`}, false},
		{[]string{`abc`}, false},
		{[]string{strings.Repeat(`"x",`, 100) + `"abc"`}, false}, // beyond 64 tags
	} {
		if got := noneMatch(c.inm, tag); got != c.want {
			t.Errorf("noneMatch(%q) = %v", c.inm, got)
		}
	}
	for _, c := range []struct {
		ae   []string
		want bool
	}{
		{[]string{"gzip"}, true},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"br;q=1.0, GZIP;q=0.5"}, true},
		{[]string{"*"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"identity"}, false},
		{nil, false},
		{[]string{strings.Repeat("br,", 100) + "gzip"}, false}, // beyond 64 codings
	} {
		if got := acceptsGzip(c.ae); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v", c.ae, got)
		}
	}
}

// FuzzConditionalHeaders: the header readers never panic.
func FuzzConditionalHeaders(f *testing.F) {
	f.Add(`"abc", W/"x"`, "gzip;q=0.5, br")
	f.Fuzz(func(t *testing.T, inm, ae string) {
		noneMatch([]string{inm}, `"abc"`)
		acceptsGzip([]string{ae})
	})
}

// TestNextAgeChange: the time a data source's age, as report.Age shows
// it, changes.
func TestNextAgeChange(t *testing.T) {
	newest := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at, want time.Duration
	}{
		{-time.Minute, time.Hour},
		{0, time.Hour},
		{30 * time.Minute, time.Hour},
		{time.Hour, 2 * time.Hour},
		{23*time.Hour + 59*time.Minute, 24 * time.Hour},
		{24 * time.Hour, 48 * time.Hour},
		{50 * time.Hour, 72 * time.Hour},
	} {
		if got := nextAgeChange(newest, newest.Add(c.at)); !got.Equal(newest.Add(c.want)) {
			t.Errorf("at +%s: %s, want +%s", c.at, got.Sub(newest), c.want)
		}
	}
}
