package image

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true}, {"2606:4700:4700::1111", true}, {"151.101.1.69", true},
		{"127.0.0.1", false}, {"127.8.9.1", false}, {"::1", false}, {"10.1.2.3", false},
		{"172.16.0.1", false}, {"192.168.1.1", false}, {"169.254.169.254", false},
		{"fd00:ec2::254", false}, {"fe80::1", false}, {"0.0.0.0", false}, {"::", false},
		{"100.64.0.1", false}, {"224.0.0.1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a9fe:a9fe", false},
		{"2002:7f00:0001::", false}, {"64:ff9b::808:808", true},
	} {
		if got := PublicAddr(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

// TestRegistryGuard opens a registry on 127.0.0.1: refused with the guard
// on, by the address or any name for it; allowed when the host, its
// address or a prefix holding it is listed.
func TestRegistryGuard(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.NotFound(w, r)
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(hostPort, ":")
	ctx := context.Background()
	for _, ref := range []string{hostPort + "/x/y:1", "localhost:" + port + "/x/y:1"} {
		_, err := Open(ctx, ref, WithRegistryAllow(nil), WithRetry(Retry{Attempts: 1}))
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("%s with the guard on: %v, want ErrForbidden", ref, err)
		}
	}
	if hits != 0 {
		t.Errorf("the guarded registry was reached %d times", hits)
	}
	for _, allow := range [][]string{{hostPort}, {"127.0.0.1"}, {"127.0.0.0/8"}} {
		_, err := Open(ctx, hostPort+"/x/y:1", WithRegistryAllow(allow), WithRetry(Retry{Attempts: 1}))
		if errors.Is(err, ErrForbidden) || !errors.Is(err, ErrNotFound) {
			t.Errorf("allow %v: %v, want the registry's not found", allow, err)
		}
	}
}

func TestLocalRoots(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		ref   string
		roots []string
		want  error
	}{
		{"dir:/etc", []string{}, ErrForbidden},
		{"oci:/etc", []string{"/"}, ErrNotFound},
		{"docker-archive:/etc/passwd", []string{root}, ErrForbidden},
		{"oci:" + root + "/../" + filepath.Base(outside), []string{root}, ErrForbidden},
		{"dir:" + filepath.Join(root, "link"), []string{root}, ErrForbidden},
		{"dir:relative/path", []string{root}, ErrForbidden},
		{"oci:" + filepath.Join(root, "missing") + ":tag", []string{root}, ErrNotFound},
		{"dir:/etc", nil, nil},
	} {
		var opts []Option
		if c.roots != nil {
			opts = append(opts, WithLocalRoots(c.roots))
		}
		img, err := Open(ctx, c.ref, opts...)
		if img != nil {
			img.Close()
		}
		if c.want == nil {
			if err != nil {
				t.Errorf("%s with roots %v: %v", c.ref, c.roots, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s with roots %v: %v, want %v", c.ref, c.roots, err, c.want)
		}
	}
}
