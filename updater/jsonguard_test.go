package updater_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// repeatReader yields prefix, then n bytes of fill, then suffix: a
// generated document of any size that never sits in memory.
type repeatReader struct {
	prefix, suffix []byte
	fill           byte
	n              int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	if r.n > 0 {
		k := int(min(int64(len(p)), r.n))
		for i := range p[:k] {
			p[i] = r.fill
		}
		r.n -= int64(k)
		return k, nil
	}
	if len(r.suffix) > 0 {
		n := copy(p, r.suffix)
		r.suffix = r.suffix[n:]
		return n, nil
	}
	return 0, io.EOF
}

func limitsKey(err error) string {
	var le *limits.Error
	if errors.As(err, &le) {
		return le.Key
	}
	return ""
}

// TestJSONGuardBounds: each bound crossed by a generated document is a
// *limits.Error naming its key; the same documents just under the bounds
// decode.
func TestJSONGuardBounds(t *testing.T) {
	lim := updater.Limits{TokenBytes: 1000, JSONDepth: 5}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		doc  string
		key  string
	}{
		{"string at the bound", `{"a":"` + strings.Repeat("x", 1000) + `"}`, ""},
		{"string over the bound", `{"a":"` + strings.Repeat("x", 1001) + `"}`, updater.KeyMaxTokenBytes},
		{"escapes count", `{"a":"` + strings.Repeat(`\"`, 501) + `"}`, updater.KeyMaxTokenBytes},
		{"key over the bound", `{"` + strings.Repeat("k", 1001) + `":1}`, updater.KeyMaxTokenBytes},
		{"number over the bound", `[` + strings.Repeat("1", 1001) + `]`, updater.KeyMaxTokenBytes},
		{"exponent over the bound", `[1e` + strings.Repeat("1", 1000) + `]`, updater.KeyMaxTokenBytes},
		{"many short strings", `[` + strings.Repeat(`"`+strings.Repeat("y", 900)+`",`, 50) + `""]`, ""},
		{"depth at the bound", deep(5), ""},
		{"depth over the bound", deep(6), updater.KeyMaxJSONDepth},
		{"brackets in strings do not nest", `["` + strings.Repeat("[{", 100) + `"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := json.NewDecoder(updater.NewJSONGuard(strings.NewReader(tt.doc), lim, "doc.json")).Decode(&v)
			if got := limitsKey(err); got != tt.key {
				t.Fatalf("error %v (key %q), want key %q", err, got, tt.key)
			}
			if tt.key == "" && err != nil {
				t.Fatal(err)
			}
			if tt.key != "" && !strings.Contains(err.Error(), "doc.json") {
				t.Errorf("error %q does not name the document", err)
			}
		})
	}
}

// TestJSONGuardValues bounds the values at a depth, as the Debian tracker
// parser bounds one issue: values of the bound size pass, one byte more
// fails, and the count starts again with each value.
func TestJSONGuardValues(t *testing.T) {
	doc := func(sizes ...int) string {
		var b strings.Builder
		b.WriteString(`{"pkg":{`)
		for i, n := range sizes {
			if i > 0 {
				b.WriteString(",")
			}
			// {"d":"…"} is 8 bytes around the string.
			b.WriteString(`"CVE-` + strings.Repeat("1", i+1) + `":{"d":"` + strings.Repeat("z", n-8) + `"}`)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	valueErr := limits.New("issue", 100, "bytes", updater.KeyMaxDocumentBytes)
	for _, tc := range []struct {
		name  string
		doc   string
		fails bool
	}{
		{"values at the bound", doc(100, 100, 100), false},
		{"one value over", doc(100, 101, 100), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := updater.NewJSONGuard(strings.NewReader(tc.doc), updater.Limits{}, "json").BoundValues(3, 100, valueErr)
			var v any
			err := json.NewDecoder(g).Decode(&v)
			if tc.fails != (err != nil) || (err != nil && !errors.Is(err, valueErr)) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// TestJSONGuardPassesRealData: the guard changes nothing in real feeds
// read through it with the defaults, whatever the read sizes.
func TestJSONGuardPassesRealData(t *testing.T) {
	dir := testenv.VulnData(t)
	for _, p := range []string{
		"vunnel-format-samples/tests/unit/providers/debian/test-fixtures/input/debian.json",
		"almalinux-osv-database/advisories/almalinux9/ALSA-2023:3661.json",
		"cisa-kev/known_exploited_vulnerabilities.json",
		"vunnel-format-samples/tests/unit/providers/chainguard/test-fixtures/input/secdb/security.json",
	} {
		raw, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 4096} {
			got, err := io.ReadAll(updater.NewJSONGuard(io.LimitReader(&chunked{r: bytes.NewReader(raw), n: chunk}, int64(len(raw))), updater.Limits{}, p))
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("%s (reads of %d): %v, %d of %d bytes", p, chunk, err, len(got), len(raw))
			}
		}
	}
}

// chunked reads at most n bytes at a time.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestJSONGuardHugeStringMemory: a 1 GiB string streamed through the guard
// fails at the 16 MiB default, and what the decoder allocated stays near
// the bound rather than the input (the 1 MB zip made 6.3 GB).
func TestJSONGuardHugeStringMemory(t *testing.T) {
	r := &repeatReader{prefix: []byte(`{"linux":{"CVE-2024-1":{"description":"`), fill: 'A', n: 1 << 30, suffix: []byte(`"}}}`)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var v map[string]any
	err := json.NewDecoder(updater.NewJSONGuard(r, updater.Limits{}, "json")).Decode(&v)
	runtime.ReadMemStats(&after)
	if limitsKey(err) != updater.KeyMaxTokenBytes {
		t.Fatalf("error %v, want the token bound", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("decoding allocated %d MiB for a string bounded at 16 MiB", alloc>>20)
	}
	if r.n < 1<<29 {
		t.Errorf("read %d MiB of the string before failing", (1<<30-r.n)>>20)
	}
}

// FuzzJSONGuard: the guard passes every byte through unchanged until it
// fails, fails only with a *limits.Error, and never fails a document that
// the decoder shows to be within the bounds.
func FuzzJSONGuard(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\"]"}]}`, `[[[[[[]]]]]]`, `"` + strings.Repeat("x", 40) + `"`, `{"k\\":-1.5e+10}`, `tru`, ""} {
		f.Add([]byte(s))
	}
	lim := updater.Limits{TokenBytes: 32, JSONDepth: 5}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := io.ReadAll(updater.NewJSONGuard(bytes.NewReader(data), lim, "fuzz"))
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("guard changed the bytes")
		}
		if err != nil {
			var le *limits.Error
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *limits.Error", err)
			}
			return
		}
		if len(got) != len(data) {
			t.Fatalf("guard dropped bytes without an error")
		}
		// A valid document the guard passed is within the bounds.
		var v any
		if json.Unmarshal(data, &v) == nil && depth(v) > lim.JSONDepth {
			t.Fatalf("document of depth %d passed a guard of %d", depth(v), lim.JSONDepth)
		}
	})
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
