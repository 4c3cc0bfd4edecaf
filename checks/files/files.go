// Package files holds the file checks of the layer pass: what a file's
// path, mode or content says about the image's hardening (setuid and
// world-writable files, keys and credentials, shadow entries, sshd
// settings, package manager caches). The parsers here read untrusted
// files: they are bounded by the content they are given (the walker
// bounds its size) and never keep more than a few findings per file.
package files

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/vuln"
)

// Mode checks a tar entry's path and mode: setuid and setgid regular
// files, and world-writable files and directories outside the temporary
// directories (a world-writable directory with the sticky bit, like
// /tmp, is not reported: only a file's owner can remove it there).
// Symbolic links (always mode 0777) are not reported. The caller decides
// which setuid files are the image's own (see checks/layer).
func Mode(p string, mode fs.FileMode, isDir, isReg bool) []checks.Finding {
	var out []checks.Finding
	if isReg && mode&fs.ModeSetuid != 0 {
		out = append(out, checks.Finding{ID: checks.FileSetuid, Severity: vuln.SeverityMedium, Path: p,
			Title:  "Setuid file not installed by a package",
			Detail: fmt.Sprintf("/%s is setuid (mode %s) and no package database of its layer lists it", p, mode)})
	}
	if isReg && mode&fs.ModeSetgid != 0 {
		out = append(out, checks.Finding{ID: checks.FileSetgid, Severity: vuln.SeverityLow, Path: p,
			Title:  "Setgid file not installed by a package",
			Detail: fmt.Sprintf("/%s is setgid (mode %s) and no package database of its layer lists it", p, mode)})
	}
	if (isReg || isDir) && mode.Perm()&0o002 != 0 && !(isDir && mode&fs.ModeSticky != 0) && !temporary(p) {
		what := "file"
		if isDir {
			what = "directory without the sticky bit"
		}
		out = append(out, checks.Finding{ID: checks.FileWorldWritable, Severity: vuln.SeverityMedium, Path: p,
			Title:  "World-writable " + strings.Fields(what)[0] + " outside the temporary directories",
			Detail: fmt.Sprintf("/%s is a world-writable %s (mode %s)", p, what, mode)})
	}
	return out
}

// temporary reports whether p is in a temporary directory, where
// world-writable files are expected.
func temporary(p string) bool {
	for _, d := range []string{"tmp", "var/tmp", "dev/shm", "run/lock", "var/lock"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// Path checks a regular file by its path alone: SSH host keys, users'
// SSH private keys, .env files and cloud credential files. The content
// of such files is also scanned for secrets.
func Path(p string) *checks.Finding {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "etc/ssh" && strings.HasPrefix(base, "ssh_host_") && strings.HasSuffix(base, "_key"):
		return &checks.Finding{ID: checks.FileSSHHostKey, Severity: vuln.SeverityHigh, Path: p,
			Title:  "SSH host key in the image",
			Detail: fmt.Sprintf("/%s: every container of the image shares this host key; generate host keys at start", p)}
	case (path.Base(dir) == ".ssh") && (base == "id_rsa" || base == "id_dsa" || base == "id_ecdsa" || base == "id_ed25519" || base == "id_ecdsa_sk" || base == "id_ed25519_sk"):
		return &checks.Finding{ID: checks.FilePrivateKey, Severity: vuln.SeverityHigh, Path: p,
			Title:  "SSH private key in the image",
			Detail: fmt.Sprintf("/%s is a user's SSH private key", p)}
	case base == ".env" || (strings.HasPrefix(base, ".env.") && !strings.HasSuffix(base, ".example") && !strings.HasSuffix(base, ".sample") && !strings.HasSuffix(base, ".template") && !strings.HasSuffix(base, ".dist")):
		return &checks.Finding{ID: checks.FileDotenv, Severity: vuln.SeverityMedium, Path: p,
			Title:  "Environment file (.env) in the image",
			Detail: fmt.Sprintf("/%s usually holds an application's credentials", p)}
	}
	if what := cloudCredentials(dir, base); what != "" {
		return &checks.Finding{ID: checks.FileCloudCredentials, Severity: vuln.SeverityHigh, Path: p,
			Title:  "Cloud credentials file in the image",
			Detail: fmt.Sprintf("/%s: %s", p, what)}
	}
	return nil
}

// cloudCredentials names the credentials file at dir/base, or "".
func cloudCredentials(dir, base string) string {
	last := path.Base(dir)
	switch {
	case last == ".aws" && base == "credentials":
		return "AWS shared credentials"
	case strings.HasSuffix(dir, ".config/gcloud") && (base == "application_default_credentials.json" || base == "credentials.db" || base == "access_tokens.db"):
		return "Google Cloud SDK credentials"
	case last == ".azure" && (base == "accessTokens.json" || base == "msal_token_cache.json"):
		return "Azure CLI tokens"
	case last == ".kube" && base == "config":
		return "Kubernetes client configuration (cluster credentials)"
	case last == ".docker" && base == "config.json":
		return "Docker client configuration (registry credentials)"
	case base == ".git-credentials":
		return "git credentials store"
	case base == ".netrc" || base == "_netrc":
		return "netrc (machine passwords)"
	case base == ".pgpass":
		return "PostgreSQL password file"
	}
	return ""
}

// Cache names the package manager cache a file belongs to, or "".
// Package indexes and downloaded packages left in an image make it
// larger and describe what was available at build time, not what is
// installed.
func Cache(p string) string {
	switch {
	case strings.HasPrefix(p, "var/cache/apt/archives/") && strings.HasSuffix(p, ".deb"),
		strings.HasPrefix(p, "var/cache/apt/") && strings.HasSuffix(p, ".bin"),
		strings.HasPrefix(p, "var/lib/apt/lists/") && !strings.HasSuffix(p, "/lock") && !strings.Contains(p[len("var/lib/apt/lists/"):], "/"):
		return "apt"
	case strings.HasPrefix(p, "var/cache/apk/"):
		return "apk"
	case strings.HasPrefix(p, "var/cache/dnf/"), strings.HasPrefix(p, "var/cache/yum/"):
		return "dnf/yum"
	case strings.HasPrefix(p, "root/.cache/pip/"), strings.Contains(p, "/.cache/pip/") && strings.HasPrefix(p, "home/"):
		return "pip"
	case strings.HasPrefix(p, "root/.npm/_cacache/"), strings.Contains(p, "/.npm/_cacache/") && strings.HasPrefix(p, "home/"):
		return "npm"
	}
	return ""
}

// CacheThreshold is the size of a package manager's cache in one layer
// from which it is reported.
const CacheThreshold = 1 << 20

// CacheFinding is the finding of n bytes of cache kind in a layer.
func CacheFinding(kind string, n int64, files int) checks.Finding {
	return checks.Finding{ID: checks.FilePackageCache, Severity: vuln.SeverityLow,
		Title:  "Package manager cache left in the image",
		Detail: fmt.Sprintf("%s cache: %d files, %.1f MiB; clean it in the step that fills it", kind, files, float64(n)/(1<<20))}
}

// IsShadow reports whether p is a shadow password file.
func IsShadow(p string) bool { return p == "etc/shadow" }

// IsSSHDConfig reports whether p is an sshd configuration file.
func IsSSHDConfig(p string) bool {
	return p == "etc/ssh/sshd_config" || (strings.HasPrefix(p, "etc/ssh/sshd_config.d/") && strings.HasSuffix(p, ".conf"))
}

// maxScanLine bounds the lines the parsers read; a longer line is read
// in part (its first maxScanLine bytes).
const maxScanLine = 64 << 10

// maxPerFile bounds the findings of one file.
const maxPerFile = 100

// lines calls fn with each line of content (without its newline, cut to
// maxScanLine bytes) and its 1-based number, until fn returns false.
func lines(content []byte, fn func(n int, line []byte) bool) {
	n := 0
	for len(content) > 0 {
		n++
		i := bytes.IndexByte(content, '\n')
		var line []byte
		if i < 0 {
			line, content = content, nil
		} else {
			line, content = content[:i], content[i+1:]
		}
		if len(line) > maxScanLine {
			line = line[:maxScanLine]
		}
		if !fn(n, bytes.TrimSuffix(line, []byte{'\r'})) {
			return
		}
	}
}

// Shadow parses a shadow password file (name:hash:…) and reports the
// accounts whose password field is empty (a login without password) or
// uses a weak scheme: traditional DES crypt (13 characters of
// [./0-9A-Za-z]), BSDi extended DES ("_"), or MD5 crypt ("$1$"). Locked
// ("!", "*", "!…") fields are fine. Never reports a hash's value.
func Shadow(p string, content []byte) []checks.Finding {
	var out []checks.Finding
	lines(content, func(n int, line []byte) bool {
		if len(line) == 0 || line[0] == '#' {
			return true
		}
		f := bytes.SplitN(line, []byte{':'}, 3)
		if len(f) < 2 {
			return true
		}
		user, hash := string(f[0]), string(f[1])
		if len(user) > 64 {
			user = user[:64] + "…"
		}
		switch scheme := weakScheme(hash); {
		case hash == "":
			out = append(out, checks.Finding{ID: checks.FileShadowEmpty, Severity: vuln.SeverityHigh, Path: p,
				Title:  "Account without a password",
				Detail: fmt.Sprintf("/%s line %d: account %q has an empty password field", p, n, user)})
		case scheme != "":
			out = append(out, checks.Finding{ID: checks.FileShadowWeak, Severity: vuln.SeverityMedium, Path: p,
				Title:  "Password hash of a weak scheme",
				Detail: fmt.Sprintf("/%s line %d: account %q has a %s password hash", p, n, user, scheme)})
		}
		return len(out) < maxPerFile
	})
	return out
}

// weakScheme names the weak crypt scheme of a password field, or "".
func weakScheme(h string) string {
	switch {
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt"
	case strings.HasPrefix(h, "_") && len(h) == 20:
		return "BSDi extended DES"
	case len(h) == 13 && strings.Trim(h, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "":
		return "DES-crypt"
	}
	return ""
}

// SSHDConfig parses an sshd configuration file and reports
// PermitRootLogin yes and PasswordAuthentication yes, as sshd reads them:
// keywords are case-insensitive, the first value of a keyword is the one
// used, and what follows a Match line applies only to matching
// connections (not reported). Only explicit settings are reported, not
// OpenSSH's defaults.
func SSHDConfig(p string, content []byte) []checks.Finding {
	var out []checks.Finding
	seen := map[string]bool{}
	lines(content, func(n int, line []byte) bool {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			return true
		}
		key, value, _ := strings.Cut(strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' }), " "), " ")
		key = strings.ToLower(key)
		value = strings.ToLower(strings.TrimSpace(value))
		if key == "match" {
			return false
		}
		if seen[key] {
			return true
		}
		seen[key] = true
		switch {
		case key == "permitrootlogin" && value == "yes":
			out = append(out, checks.Finding{ID: checks.FileSSHDRootLogin, Severity: vuln.SeverityMedium, Path: p,
				Title:  "sshd allows root to log in with a password",
				Detail: fmt.Sprintf("/%s line %d: PermitRootLogin yes", p, n)})
		case key == "passwordauthentication" && value == "yes":
			out = append(out, checks.Finding{ID: checks.FileSSHDPasswordAuth, Severity: vuln.SeverityLow, Path: p,
				Title:  "sshd allows password authentication",
				Detail: fmt.Sprintf("/%s line %d: PasswordAuthentication yes", p, n)})
		}
		return true
	})
	return out
}
