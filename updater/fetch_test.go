package updater_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

func fetch(t *testing.T, src updater.Source, prev map[string]string, opts ...updater.Option) (*updater.Feed, error) {
	t.Helper()
	opts = append([]updater.Option{quiet, fast, updater.WithTempDir(t.TempDir())}, opts...)
	f, err := updater.Fetch(context.Background(), src, prev, opts...)
	if f != nil {
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	return f, err
}

func TestFetchRetries(t *testing.T) {
	body := []byte(`{"id":"GO-2024-0001"}`)
	tests := []struct {
		name     string
		failures []int // statuses answered before success
		attempts int
		wantErr  string
		wantReqs int
	}{
		{"503 then ok", []int{503, 502}, 4, "", 3},
		{"429 then ok", []int{429}, 4, "", 2},
		{"too many 500s", []int{500, 500, 500}, 3, "500 Internal Server Error (after 3 attempts)", 3},
		{"404 is final", []int{404}, 4, "404 Not Found", 1},
		{"403 is final", []int{403}, 4, "403 Forbidden", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFeedServer(t)
			srv.set("/feed.json", body)
			n := 0
			srv.before = func(w http.ResponseWriter, r *http.Request) bool {
				if n < len(tt.failures) {
					n++
					w.WriteHeader(tt.failures[n-1])
					return true
				}
				return false
			}
			f, err := fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/feed.json"}}, nil, updater.WithAttempts(tt.attempts))
			if got := srv.requestCount(); got != tt.wantReqs {
				t.Errorf("%d requests, want %d", got, tt.wantReqs)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.ReadFile(f.FS, "feed.json")
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("feed.json = %q, %v", got, err)
			}
		})
	}
}

// TestFetchRetryAfter: a 429 with Retry-After: 1 makes the retry wait a
// second even though the backoff is a millisecond.
func TestFetchRetryAfter(t *testing.T) {
	srv := newFeedServer(t)
	srv.set("/all.zip", []byte("not a zip"))
	first := true
	srv.before = func(w http.ResponseWriter, r *http.Request) bool {
		if first {
			first = false
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	start := time.Now()
	if _, err := fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/all.zip"}}, nil); err != nil {
		t.Fatal(err)
	}
	if srv.requestCount() != 2 {
		t.Errorf("%d requests, want 2", srv.requestCount())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, before the server's Retry-After of 1s", waited)
	}
}

func TestFetchSizeCap(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4096)
	tests := []struct {
		name    string
		chunked bool
	}{
		{"content-length", false},
		{"chunked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFeedServer(t)
			srv.before = func(w http.ResponseWriter, r *http.Request) bool {
				if !tt.chunked {
					w.Header().Set("Content-Length", "4096")
				}
				w.Write(big[:2048])
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				w.Write(big[2048:])
				return true
			}
			_, err := fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/big.json"}}, nil, updater.WithMaxBytes(1000))
			if !errors.Is(err, updater.ErrTooLarge) || limitsKey(err) != updater.KeyMaxBytes {
				t.Fatalf("error %v, want ErrTooLarge, a *limits.Error naming max_bytes", err)
			}
			if srv.requestCount() != 1 {
				t.Errorf("a too large download was retried (%d requests)", srv.requestCount())
			}
			// The source's own cap wins over the option.
			_, err = fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/big.json"}, MaxBytes: 8192}, nil, updater.WithMaxBytes(1000))
			if err != nil {
				t.Fatalf("source cap 8192: %v", err)
			}
		})
	}
}

// TestFetchTruncatedBody: a connection that ends before Content-Length is
// a network error, retried, then reported.
func TestFetchTruncatedBody(t *testing.T) {
	srv := newFeedServer(t)
	srv.before = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("short"))
		return true
	}
	_, err := fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/f.json"}}, nil, updater.WithAttempts(2))
	if err == nil {
		t.Fatal("truncated body: no error")
	}
	if srv.requestCount() != 2 {
		t.Errorf("%d requests, want 2", srv.requestCount())
	}
}

// TestFetchPartialNotModified: when one of two URLs changed, the unchanged
// one is fetched again in full, since the parser needs the whole feed.
func TestFetchPartialNotModified(t *testing.T) {
	srv := newFeedServer(t)
	srv.set("/v3.19/main.json", []byte(`{"a":1}`))
	srv.set("/v3.19/community.json", []byte(`{"b":1}`))
	src := updater.Source{Name: "t", Type: "alpine-secdb", URLs: []string{srv.URL + "/v3.19/main.json", srv.URL + "/v3.19/community.json"}}
	f1, err := fetch(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f1.Validators) != 4 {
		t.Fatalf("validators %v, want an ETag and a Last-Modified per URL", f1.Validators)
	}
	f2, err := fetch(t, src, f1.Validators)
	if err != nil {
		t.Fatal(err)
	}
	if !f2.Unchanged || f2.FS != nil {
		t.Fatalf("all 304: unchanged %v", f2.Unchanged)
	}
	srv.set("/v3.19/community.json", []byte(`{"b":2}`))
	f3, err := fetch(t, src, f1.Validators)
	if err != nil {
		t.Fatal(err)
	}
	if f3.Unchanged {
		t.Fatal("changed feed reported unchanged")
	}
	for name, want := range map[string]string{"main.json": `{"a":1}`, "community.json": `{"b":2}`} {
		if got, err := fs.ReadFile(f3.FS, name); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if f3.Fingerprint == f1.Fingerprint {
		t.Error("fingerprint did not change with the content")
	}
	if f3.Validators["etag "+srv.URL+"/v3.19/main.json"] == "" {
		t.Error("validators of the refetched URL missing")
	}
}

// TestFetchLocal reads a file, a directory and a zip archive from disk.
func TestFetchLocal(t *testing.T) {
	rocky := testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rocky", "test-fixtures", "osv")
	tmp := t.TempDir()
	zipPath := filepath.Join(tmp, "feed.bin") // a zip, whatever its name
	if err := os.WriteFile(zipPath, zipFiles(t, rocky, "osv/", nil), 0o644); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(rocky, "RLSA-2023_3220.json")
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"file", one, []string{"RLSA-2023_3220.json"}},
		{"directory", rocky, []string{"RLSA-2021_3891.json", "RLSA-2023_3220.json", "RLSA-2024_3671.json"}},
		{"zip", zipPath, []string{"osv/RLSA-2021_3891.json", "osv/RLSA-2023_3220.json", "osv/RLSA-2024_3671.json"}},
	}
	fps := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := fetch(t, updater.Source{Name: "t", Type: "osv", Path: tt.path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			fs.WalkDir(f.FS, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					got = append(got, p)
				}
				return err
			})
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("files %v, want %v", got, tt.want)
			}
			if f.Fingerprint == "" || fps[f.Fingerprint] {
				t.Errorf("fingerprint %q empty or not distinct", f.Fingerprint)
			}
			fps[f.Fingerprint] = true
			again, err := fetch(t, updater.Source{Name: "t", Type: "osv", Path: tt.path}, nil)
			if err != nil || again.Fingerprint != f.Fingerprint {
				t.Errorf("fingerprint not stable: %q vs %q (%v)", again.Fingerprint, f.Fingerprint, err)
			}
		})
	}
	if _, err := fetch(t, updater.Source{Name: "t", Type: "osv", Path: filepath.Join(tmp, "absent")}, nil); err == nil {
		t.Error("absent path: no error")
	}
}

// TestFetchRemovesTempFiles: Close leaves nothing in the spool directory.
func TestFetchRemovesTempFiles(t *testing.T) {
	srv := newFeedServer(t)
	srv.set("/a/all.zip", zipFiles(t, testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rocky", "test-fixtures", "osv"), "", nil))
	srv.set("/b/list", []byte("text"))
	spool := t.TempDir()
	f, err := updater.Fetch(context.Background(), updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/a/all.zip", srv.URL + "/b/list"}}, nil, quiet, updater.WithTempDir(spool))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(f.FS, "all.zip/RLSA-2021_3891.json"); err != nil {
		t.Errorf("zip of a several-URL feed not mounted at its name: %v", err)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 2 {
		t.Errorf("%d spooled files, want 2", len(ents))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("%d files left after Close", len(ents))
	}
	// A failed fetch leaves nothing either.
	_, err = updater.Fetch(context.Background(), updater.Source{Name: "t", Type: "osv", URLs: []string{srv.URL + "/a/all.zip", srv.URL + "/missing"}}, nil, quiet, fast, updater.WithTempDir(spool))
	if err == nil {
		t.Fatal("missing URL: no error")
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("%d files left after a failed fetch", len(ents))
	}
}

// TestFetchUnresolvableHostIsFinal: a host name that does not resolve (an
// air-gapped machine, a typo) fails at once instead of after every retry.
func TestFetchUnresolvableHostIsFinal(t *testing.T) {
	_, err := fetch(t, updater.Source{Name: "t", Type: "osv", URLs: []string{"http://feeds.lapps-test.invalid/all.zip"}}, nil, updater.WithAttempts(4))
	if err == nil {
		t.Fatal("fetch of an unresolvable host succeeded")
	}
	if strings.Contains(err.Error(), "attempts") {
		t.Errorf("error %q: an unresolvable host was retried", err)
	}
}
