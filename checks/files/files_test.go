package files

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/lapps/lapps/checks"
)

func ids(fs []checks.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.ID)
	}
	return strings.Join(s, ",")
}

func TestShadow(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"debian default", "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", ""},
		{"locked and strong", "a:!:1::::::\nb:!!:1::::::\nc:!$6$x$y:1::::::\nd:$6$salt$" + strings.Repeat("h", 86) + ":1::::::\ne:$y$j9T$s$h:1::::::\n", ""},
		{"empty", "root::19000:0:99999:7:::\n", checks.FileShadowEmpty},
		{"DES", "old:abJnggxhB/yWI:1::::::\n", checks.FileShadowWeak},
		{"MD5", "m:$1$salt$qjQvBVKs4YOxTxXL5eiVv.:1::::::\n", checks.FileShadowWeak},
		{"BSDi", "b:_J9..rasmBYk8r9AiWNc:1::::::\n", checks.FileShadowWeak},
		{"13 chars not DES alphabet", "x:abc!efghijklm:1::::::\n", ""},
		{"comment, blank, CRLF, no colon", "# c\n\nnocolon\nroot::1::::::\r\n", checks.FileShadowEmpty},
		{"user only", "root", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(Shadow("etc/shadow", []byte(tc.content))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// A hash is never in a finding.
	for _, f := range Shadow("etc/shadow", []byte("m:$1$salt$qjQvBVKs4YOxTxXL5eiVv.:1::::::\n")) {
		if strings.Contains(f.Detail, "qjQv") || strings.Contains(f.Detail, "salt") {
			t.Errorf("detail holds the hash: %s", f.Detail)
		}
	}
}

// TestShadowBounds: at most maxPerFile findings per file, and a line
// longer than maxScanLine is read in part.
func TestShadowBounds(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 3*maxPerFile; i++ {
		fmt.Fprintf(&b, "u%d::1::::::\n", i)
	}
	if n := len(Shadow("etc/shadow", []byte(b.String()))); n != maxPerFile {
		t.Errorf("%d findings, want %d", n, maxPerFile)
	}
	long := strings.Repeat("u", maxScanLine+10) + "::1:::\n"
	if got := Shadow("etc/shadow", []byte(long)); len(got) != 0 {
		t.Errorf("a line cut before its first colon gave %v", got)
	}
	f := Shadow("etc/shadow", []byte(strings.Repeat("u", 100)+"::1:::\n"))
	if len(f) != 1 || len(f[0].Detail) > 200 {
		t.Errorf("long user name: %v", f)
	}
}

func TestSSHDConfig(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"debian default", "Include /etc/ssh/sshd_config.d/*.conf\n#PermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\nUsePAM yes\n", ""},
		{"root yes", "PermitRootLogin yes\n", checks.FileSSHDRootLogin},
		{"case and equals", "permitrootlogin=YES\n", checks.FileSSHDRootLogin},
		{"tab", "PasswordAuthentication\tyes\n", checks.FileSSHDPasswordAuth},
		{"both", "PermitRootLogin yes\nPasswordAuthentication yes\n", checks.FileSSHDRootLogin + "," + checks.FileSSHDPasswordAuth},
		{"first wins", "PermitRootLogin no\nPermitRootLogin yes\n", ""},
		{"match block", "PermitRootLogin no\nMatch User admin\n  PermitRootLogin yes\n  PasswordAuthentication yes\n", ""},
		{"prohibit-password", "PermitRootLogin prohibit-password\n", ""},
		{"commented", "# PermitRootLogin yes\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(SSHDConfig("etc/ssh/sshd_config", []byte(tc.content))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		path     string
		mode     fs.FileMode
		dir, reg bool
		want     string
	}{
		{"usr/bin/x", 0o755 | fs.ModeSetuid, false, true, checks.FileSetuid},
		{"usr/bin/x", 0o755 | fs.ModeSetgid, false, true, checks.FileSetgid},
		{"usr/bin/x", 0o755, false, true, ""},
		{"app/f", 0o666, false, true, checks.FileWorldWritable},
		{"app/d", 0o777, true, false, checks.FileWorldWritable},
		{"var/tmp", 0o777 | fs.ModeSticky, true, false, ""},
		{"srv/upload", 0o777 | fs.ModeSticky, true, false, ""},
		{"tmp/f", 0o666, false, true, ""},
		{"var/tmp/x/f", 0o666, false, true, ""},
		{"tmpfile", 0o666, false, true, checks.FileWorldWritable},
		{"dir/setuid", 0o755 | fs.ModeSetuid, true, false, ""},
	} {
		if got := ids(Mode(tc.path, tc.mode, tc.dir, tc.reg)); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.path, tc.mode, got, tc.want)
		}
	}
}

func TestPath(t *testing.T) {
	for p, want := range map[string]string{
		"etc/ssh/ssh_host_rsa_key":     checks.FileSSHHostKey,
		"etc/ssh/ssh_host_rsa_key.pub": "",
		"root/.ssh/id_ed25519":         checks.FilePrivateKey,
		"home/u/.ssh/id_rsa.pub":       "",
		"app/.env":                     checks.FileDotenv,
		"app/.env.production":          checks.FileDotenv,
		"app/.env.example":             "",
		"root/.aws/credentials":        checks.FileCloudCredentials,
		"root/.aws/config":             "",
		"root/.config/gcloud/application_default_credentials.json": checks.FileCloudCredentials,
		"home/u/.azure/accessTokens.json":                          checks.FileCloudCredentials,
		"root/.kube/config":                                        checks.FileCloudCredentials,
		"root/.docker/config.json":                                 checks.FileCloudCredentials,
		"root/.git-credentials":                                    checks.FileCloudCredentials,
		"root/.netrc":                                              checks.FileCloudCredentials,
		"usr/share/doc/x/credentials":                              "",
	} {
		got := ""
		if f := Path(p); f != nil {
			got = f.ID
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", p, got, want)
		}
	}
}

func TestCache(t *testing.T) {
	for p, want := range map[string]string{
		"var/cache/apt/archives/x_1_amd64.deb":                    "apt",
		"var/cache/apt/pkgcache.bin":                              "apt",
		"var/lib/apt/lists/deb.debian.org_debian_dists_InRelease": "apt",
		"var/lib/apt/lists/lock":                                  "",
		"var/lib/apt/lists/partial/x":                             "",
		"var/cache/apk/APKINDEX.abc.tar.gz":                       "apk",
		"var/cache/dnf/x.solv":                                    "dnf/yum",
		"root/.cache/pip/http/x":                                  "pip",
		"home/u/.npm/_cacache/index":                              "npm",
		"var/cache/debconf/config.dat":                            "",
	} {
		if got := Cache(p); got != want {
			t.Errorf("%s: got %q, want %q", p, got, want)
		}
	}
}

func FuzzShadow(f *testing.F) {
	f.Add([]byte("root::19000:0:99999:7:::\nold:abJnggxhB/yWI:1::::::\nm:$1$s$h:1:\n"))
	f.Add([]byte("# c\n\n:\n::\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := Shadow("etc/shadow", b)
		if len(out) > maxPerFile {
			t.Fatalf("%d findings", len(out))
		}
		for _, f := range out {
			if f.ID != checks.FileShadowEmpty && f.ID != checks.FileShadowWeak {
				t.Fatalf("finding %+v", f)
			}
		}
	})
}

func FuzzSSHDConfig(f *testing.F) {
	f.Add([]byte("PermitRootLogin yes\nPasswordAuthentication yes\nMatch all\n"))
	f.Add([]byte("permitrootlogin=yes\r\n\t  \n#x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if out := SSHDConfig("etc/ssh/sshd_config", b); len(out) > 2 {
			t.Fatalf("%d findings: each setting is reported once", len(out))
		}
	})
}
