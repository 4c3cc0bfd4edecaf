package service

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	_ "github.com/lapps/lapps/report/all"
	"github.com/lapps/lapps/report/template"
)

// randomString returns n characters of alphabet from crypto/rand.
func randomString(t *testing.T, alphabet string, n int) string {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

type tarFile struct {
	name string
	mode int64
	body string
	dir  bool
}

func tarLayer(t *testing.T, files []tarFile) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checksImage is an image built by the test, with generated secrets of
// real shape (never real credentials).
type checksImage struct {
	ref     string
	secrets []string // values no report may contain
	ghp     string
}

func buildChecksImage(t *testing.T) checksImage {
	t.Helper()
	alnum := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	ghp := "ghp_" + randomString(t, alnum, 36)
	akia := "AKIA" + randomString(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	awsSecret := randomString(t, alnum, 40)
	envToken := randomString(t, "0123456789abcdef", 32)
	argPassword := randomString(t, alnum, 20)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	keyBody := strings.Split(keyPEM, "\n")[1]

	base := tarLayer(t, []tarFile{
		{name: "etc/shadow", mode: 0o640, body: "root::19000:0:99999:7:::\nold:abJnggxhB/yWI:19000:0:99999:7:::\nmd5user:$1$saltsalt$qjQvBVKs4YOxTxXL5eiVv.:19000:0:99999:7:::\nlocked:!:19000::::::\nstrong:$6$rounds=5000$abc$" + strings.Repeat("x", 86) + ":19000::::::\n"},
		{name: "etc/ssh/sshd_config", mode: 0o644, body: "# test\nPermitRootLogin yes\nPasswordAuthentication yes\n"},
		{name: "etc/ssh/ssh_host_ed25519_key", mode: 0o600, body: hostKey},
		{name: "usr/local/bin/helper", mode: 0o4755, body: "#!/bin/sh\nexit 0\n"},
		{name: "app/data/shared.txt", mode: 0o666, body: "shared\n"},
		{name: "tmp/scratch", mode: 0o666, body: "tmp\n"},
		{name: "app/.env", mode: 0o644, body: "DATABASE_URL=postgres://app@db/app\n"},
		{name: "root/.aws/credentials", mode: 0o600, body: "[default]\naws_access_key_id = " + akia + "\naws_secret_access_key = " + awsSecret + "\n"},
		{name: "app/keys/server.key", mode: 0o600, body: keyPEM},
		{name: "app/settings.py", mode: 0o644, body: "DEBUG = False\nGITHUB_TOKEN = \"" + ghp + "\"\n"},
		{name: "var/cache/apt/archives/big_1.0_amd64.deb", mode: 0o644, body: strings.Repeat("\x00", 2<<20)},
	})
	later := tarLayer(t, []tarFile{
		{name: "app/keys/.wh.server.key", mode: 0o644},
		{name: "etc/ssh/sshd_config", mode: 0o644, body: "PermitRootLogin no\n"},
	})
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: base, History: v1.History{CreatedBy: "ADD https://example.com/app.tar.gz /app # buildkit"}},
		mutate.Addendum{Layer: later, History: v1.History{CreatedBy: "RUN |1 DB_PASSWORD=" + argPassword + " /bin/sh -c rm /app/keys/server.key # buildkit"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/bin", "API_TOKEN=" + envToken}
	cf.Config.ExposedPorts = map[string]struct{}{"22/tcp": {}, "8080/tcp": {}}
	cf.History = append([]v1.History{{CreatedBy: "ENV API_TOKEN=" + envToken, EmptyLayer: true}}, cf.History...)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "checks"})); err != nil {
		t.Fatal(err)
	}
	return checksImage{
		ref:     "oci:" + filepath.Clean(dir) + ":checks",
		secrets: []string{ghp, akia, awsSecret, envToken, argPassword, keyBody, strings.Split(hostKey, "\n")[1]},
		ghp:     ghp,
	}
}

// TestChecksBuiltImage scans an image built by the test and checks every
// check on it: what each finds, in which layer, that a secret deleted by
// a later layer is still reported, and that no output format holds a
// secret's value.
func TestChecksBuiltImage(t *testing.T) {
	ci := buildChecksImage(t)
	l, reads := newTestLocal(t)
	ctx := context.Background()
	r, err := l.ScanImage(ctx, ScanRequest{Image: ci.ref})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 2 {
		t.Fatalf("%d layers", len(r.Layers))
	}
	base, later := r.Layers[0].Digest, r.Layers[1].Digest
	type want struct{ id, path, layer string }
	wants := []want{
		{checks.ConfigRootUser, "", ""},
		{checks.ConfigSecretEnv, "", ""},
		{checks.ConfigSecretArg, "", later},
		{checks.ConfigAddURL, "", base},
		{checks.ConfigSensitivePort, "", ""},
		{checks.ConfigNoHealthcheck, "", ""},
		{checks.FileSetuid, "usr/local/bin/helper", base},
		{checks.FileWorldWritable, "app/data/shared.txt", base},
		{checks.FileSSHHostKey, "etc/ssh/ssh_host_ed25519_key", base},
		{checks.FileDotenv, "app/.env", base},
		{checks.FileCloudCredentials, "root/.aws/credentials", base},
		{checks.FileShadowEmpty, "etc/shadow", base},
		{checks.FileShadowWeak, "etc/shadow", base},
		{checks.FilePackageCache, "", base},
	}
	got := map[want]int{}
	for _, f := range r.ConfigFindings {
		got[want{f.ID, f.Path, f.Layer}]++
		t.Logf("%s %s %s %s: %s", f.ID, f.Severity, f.Path, f.Layer, f.Detail)
	}
	for _, w := range wants {
		if got[w] == 0 {
			t.Errorf("missing finding %+v", w)
		}
	}
	if n := got[want{checks.FileShadowWeak, "etc/shadow", base}]; n != 2 {
		t.Errorf("%d weak shadow hashes, want 2 (DES and MD5; not the locked or SHA-512 ones)", n)
	}
	if n := got[want{checks.ConfigSecretEnv, "", ""}]; n != 1 {
		t.Errorf("%d secret ENV findings in the configuration, want 1 (API_TOKEN)", n)
	}
	for _, f := range r.ConfigFindings {
		switch {
		case f.ID == checks.FileSSHDRootLogin || f.ID == checks.FileSSHDPasswordAuth:
			t.Errorf("sshd finding of a configuration a later layer rewrote: %+v", f)
		case f.Path == "tmp/scratch":
			t.Errorf("world-writable file under /tmp reported: %+v", f)
		case f.ID == checks.ConfigSensitivePort && !strings.Contains(f.Detail, "22"):
			t.Errorf("port finding %+v", f)
		}
	}
	type sec struct {
		rule, path, layer string
		line              int
		deleted           bool
	}
	gotSecrets := map[sec]bool{}
	for _, s := range r.Secrets {
		gotSecrets[sec{s.Rule, s.Path, s.Layer, s.Line, s.DeletedLater}] = true
		t.Logf("secret %s /%s:%d %s deleted=%v %s", s.Rule, s.Path, s.Line, s.Layer, s.DeletedLater, s.Preview)
		if !strings.HasSuffix(s.Preview, "****") || len(s.Preview) > 8 {
			t.Errorf("preview %q", s.Preview)
		}
	}
	for _, w := range []sec{
		{"private-key", "app/keys/server.key", base, 1, true},
		{"private-key", "etc/ssh/ssh_host_ed25519_key", base, 1, false},
		{"github-pat", "app/settings.py", base, 2, false},
		{"aws-access-token", "root/.aws/credentials", base, 2, false},
	} {
		if !gotSecrets[w] {
			t.Errorf("missing secret %+v", w)
		}
	}
	if len(r.Secrets) != 4 {
		t.Errorf("%d secrets, want 4", len(r.Secrets))
	}

	// No output format holds a secret's value.
	outputs := map[string]string{}
	for _, format := range report.Formats {
		var out bytes.Buffer
		if format == "template" {
			// Templates see the whole report: the built-in ones, and one
			// printing every field.
			for _, spec := range []string{"@markdown", "@gitlab"} {
				tm, err := template.Load(spec)
				if err != nil {
					t.Fatal(err)
				}
				if err := tm.Execute(&out, r); err != nil {
					t.Fatalf("%s: %v", spec, err)
				}
			}
			tm, err := template.Parse("all", "{{ printf \"%+v\" . }}")
			if err != nil {
				t.Fatal(err)
			}
			if err := tm.Execute(&out, r); err != nil {
				t.Fatal(err)
			}
		} else if err := report.Write(&out, r, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		outputs[format] = out.String()
	}
	for _, format := range []string{"table", "json", "sarif", "cyclonedx", "spdx-json", "template"} {
		if outputs[format] == "" {
			t.Errorf("format %s not written", format)
		}
	}
	for format, out := range outputs {
		for _, s := range ci.secrets {
			if strings.Contains(out, s) {
				t.Errorf("format %s holds a secret value %.4s…", format, s)
			}
		}
		if format == "table" && (!strings.Contains(out, "SECRETS (4)") || !strings.Contains(out, "CONFIGURATION (")) {
			t.Errorf("table without its checks sections:\n%s", out)
		}
		if (format == "sarif" || format == "cyclonedx" || format == "json") && !strings.Contains(out, "app/settings.py") {
			t.Errorf("format %s does not carry the secrets", format)
		}
	}

	// The stored results serve reports: no layer is read again.
	n := reads.Load()
	live, err := l.Report(ctx, ci.ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reads.Load() != n || len(live.Secrets) != len(r.Secrets) || len(live.ConfigFindings) != len(r.ConfigFindings) {
		t.Errorf("live report: %d layer reads, %d secrets, %d findings; want none, %d, %d", reads.Load()-n, len(live.Secrets), len(live.ConfigFindings), len(r.Secrets), len(r.ConfigFindings))
	}

	// Secrets fail a verdict by default, even without a policy; allowed
	// by path and rule they do not.
	if v := policy.Evaluate(nil, r, r.GeneratedAt, nil); v.Result != policy.Fail {
		t.Errorf("verdict without policy: %+v", v)
	}
	p := &policy.Policy{Checks: policy.Checks{Secrets: policy.SecretsPolicy{Allow: []policy.SecretAllow{
		{Path: "app/**"}, {Path: "/etc/ssh/ssh_host_*_key", Rule: "private-key"}, {Rule: "aws-access-token"},
	}}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if v := policy.Evaluate(p, r, r.GeneratedAt, nil); v.Result != policy.Pass || len(v.Suppressed) != 4 {
		t.Errorf("verdict with every secret allowed: %+v", v)
	}
}
