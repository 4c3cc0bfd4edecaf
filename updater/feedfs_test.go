package updater

import (
	"archive/zip"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestFeedNames(t *testing.T) {
	split := func(urls ...string) ([][]string, []string) {
		var paths [][]string
		var hosts []string
		for _, u := range urls {
			host, p, _ := strings.Cut(u, "/")
			hosts = append(hosts, host)
			paths = append(paths, strings.Split(p, "/"))
		}
		return paths, hosts
	}
	tests := []struct {
		name string
		urls []string
		want []string
	}{
		{"single", []string{"osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"}, []string{"all.zip"}},
		{"alpine releases", []string{
			"secdb.alpinelinux.org/v3.19/main.json", "secdb.alpinelinux.org/v3.19/community.json",
			"secdb.alpinelinux.org/v3.20/main.json", "secdb.alpinelinux.org/v3.20/community.json",
		}, []string{"v3.19/main.json", "v3.19/community.json", "v3.20/main.json", "v3.20/community.json"}},
		{"debian lists", []string{
			"salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DSA/list",
			"salsa.debian.org/security-tracker-team/security-tracker/-/raw/master/data/DLA/list",
		}, []string{"DSA/list", "DLA/list"}},
		{"distinct bases", []string{"a.example/x/one.json", "a.example/y/two.json"}, []string{"one.json", "two.json"}},
		{"same path on two hosts", []string{"a.example/data/all.zip", "b.example/data/all.zip"}, []string{"a.example/data/all.zip", "b.example/data/all.zip"}},
		{"file and directory clash", []string{"a.example/x", "a.example/x/x"}, []string{"0/x", "1/x"}},
		{"identical", []string{"a.example/x", "a.example/x"}, []string{"0/x", "1/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, hosts := split(tt.urls...)
			got := feedNames(paths, hosts)
			if !slices.Equal(got, tt.want) {
				t.Errorf("feedNames(%v) = %v, want %v", tt.urls, got, tt.want)
			}
		})
	}
}

// TestTreeFS checks the feed file system with testing/fstest: files on
// disk, made-up directories and a mounted zip.
func TestTreeFS(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, name := range []string{"GO-2024-0001.json", "sub/GO-2024-0002.json"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(`{"id":"x"}`))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zp := write("all.zip", zb.String())

	feed := &Feed{}
	defer feed.Close()
	tree := newTreeFS()
	for name, content := range map[string]string{"v3.19/main.json": "{}", "v3.19/community.json": "[]", "list": "x"} {
		p := write(strings.ReplaceAll(name, "/", "_"), content)
		if !tree.add(name, &node{file: p, size: int64(len(content)), modTime: time.Unix(1, 0)}) {
			t.Fatalf("add %s", name)
		}
	}
	n, err := feed.nodeFor(zp, "all.zip", int64(zb.Len()), time.Time{}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if n.sub == nil {
		t.Fatal("zip not detected by content")
	}
	if !tree.add("osv/all.zip", n) {
		t.Fatal("add zip")
	}
	if tree.add("v3.19/main.json", &node{file: zp}) || tree.add("list/x", &node{file: zp}) {
		t.Error("add over an existing name or through a file succeeded")
	}
	if err := fstest.TestFS(tree, "v3.19/main.json", "v3.19/community.json", "list", "osv/all.zip/GO-2024-0001.json", "osv/all.zip/sub/GO-2024-0002.json"); err != nil {
		t.Fatal(err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
