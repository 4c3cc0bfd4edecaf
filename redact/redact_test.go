package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://example.com/feed.json", "https://example.com/feed.json"},
		{"https://user:s3cret@example.com/x", "https://REDACTED@example.com/x"},
		{"https://ghp_abcdef@example.com/x", "https://REDACTED@example.com/x"},
		{"https://example.com/x?token=abc&page=2", "https://example.com/x?page=2&token=REDACTED"},
		{"https://hooks.example.com/h?api_key=k1", "https://hooks.example.com/h?api_key=REDACTED"},
		{"https://s3.example.com/b?X-Amz-Signature=ff&X-Amz-Credential=AK&X-Amz-Date=1", "https://s3.example.com/b?X-Amz-Credential=REDACTED&X-Amz-Date=1&X-Amz-Signature=REDACTED"},
		{"https://example.com/cb#access_token=abc&x=1", "https://example.com/cb#REDACTED"},
		{"https://example.com/x?Password=p", "https://example.com/x?Password=REDACTED"},
		{"https://example.com/x?github_token=p", "https://example.com/x?github_token=REDACTED"},
		{"https://example.com/x?%zz=1&token=2", "https://example.com/x?REDACTED"},
		{"not a url", "not a url"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`Post "https://u:p@hooks.example.com/x?token=t": dial tcp: refused`,
			`Post "https://REDACTED@hooks.example.com/x?token=REDACTED": dial tcp: refused`},
		{"GET https://feed.example.com/all.zip?key=abc: 500 Internal Server Error",
			"GET https://feed.example.com/all.zip?key=REDACTED: 500 Internal Server Error"},
		{"see https://example.com/a.", "see https://example.com/a."},
		{"fetch from https://u:p@example.com/x.", "fetch from https://REDACTED@example.com/x."},
		{"two: http://a:b@h1/ and (https://h2/?sig=1)", "two: http://REDACTED@h1/ and (https://h2/?sig=REDACTED)"},
		{"broken https://user:p%zz@host/x", "broken https://REDACTED@host/x"},
		{"no urls here", "no urls here"},
		{"post https://alice:pw@host:port/?api_key=k failed", "post https://REDACTED@host:port/?REDACTED failed"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	base := fmt.Errorf("GET https://u:p@example.com/x: %w", fs.ErrNotExist)
	err := Error(base)
	if strings.Contains(err.Error(), "u:p") {
		t.Errorf("Error kept the credentials: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is lost through Error")
	}
	plain := errors.New("nothing secret")
	if Error(plain) != plain {
		t.Error("an error without URLs should be returned as is")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil)))
	log = log.With("source", "https://u:p@feed.example.com/x?token=1")
	log.Info("fetch https://a:b@h/ failed", "err", errors.New(`Get "https://c:d@h2/?api_key=k"`),
		slog.Group("g", "url", "https://e:f@h3/"), "n", 3)
	out := buf.String()
	for _, secret := range []string{"u:p", "token=1", "a:b", "c:d", "api_key=k", "e:f"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line holds %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "n=3") {
		t.Errorf("other attributes lost: %s", out)
	}
}

func FuzzText(f *testing.F) {
	f.Add("https://user:pass@example.com/x?token=1")
	f.Add(`Post "http://a@b/c?sig=2": EOF`)
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if strings.Contains(s, "://") {
			return
		}
		if out != s {
			t.Fatalf("text without URLs changed: %q → %q", s, out)
		}
	})
}
