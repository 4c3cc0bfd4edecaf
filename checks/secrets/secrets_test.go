package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func random(t testing.TB, alphabet string, n int) string {
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

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowhex = "0123456789abcdef"
)

func scan(t *testing.T, content string) []Match {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var out []Match
	s.NewMatcher().Scan([]byte(content), func(m Match) bool { out = append(out, m); return true })
	return out
}

// TestRules: every rule finds a generated value of its shape, in the
// group the rule names, on the right line.
func TestRules(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(ec)
	key := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	cases := map[string]string{
		"private-key":             key,
		"aws-access-token":        "AKIA" + random(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
		"github-pat":              "ghp_" + random(t, alnum, 36),
		"github-fine-grained-pat": "github_pat_" + random(t, alnum, 82),
		"github-oauth":            "gho_" + random(t, alnum, 36),
		"github-app-token":        "ghs_" + random(t, alnum, 36),
		"github-refresh-token":    "ghr_" + random(t, alnum, 36),
		"gitlab-pat":              "glpat-" + random(t, alnum, 20),
		"slack-bot-token":         "xoxb-" + random(t, "0123456789", 12) + "-" + random(t, "0123456789", 12) + "-" + random(t, alnum, 24),
		"slack-user-token":        "xoxp-" + random(t, "0123456789", 12) + "-" + random(t, "0123456789", 12) + "-" + random(t, "0123456789", 12) + "-" + random(t, alnum, 32),
		"slack-webhook-url":       "https://hooks.slack.com/services/" + random(t, alnum, 44),
		"stripe-access-token":     "sk_live_" + random(t, alnum, 24),
		"gcp-api-key":             "AIza" + random(t, alnum, 35),
		"npm-access-token":        "npm_" + random(t, "abcdefghijklmnopqrstuvwxyz0123456789", 36),
		"pypi-upload-token":       "pypi-AgEIcHlwaS5vcmc" + random(t, alnum, 60),
		"sendgrid-api-token":      "SG." + random(t, alnum, 22) + "." + random(t, alnum, 43),
		"openai-api-key":          "sk-" + random(t, alnum, 20) + "T3BlbkFJ" + random(t, alnum, 20),
		"anthropic-api-key":       "sk-ant-api03-" + random(t, alnum, 93) + "AA",
		"digitalocean-pat":        "dop_v1_" + random(t, lowhex, 64),
		"shopify-access-token":    "shpat_" + random(t, lowhex, 32),
		"age-secret-key":          "AGE-SECRET-KEY-1" + random(t, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58),
		"hashicorp-tf-api-token":  random(t, "abcdefghijklmnopqrstuvwxyz0123456789", 14) + ".atlasv1." + random(t, "abcdefghijklmnopqrstuvwxyz0123456789", 64),
	}
	s, _ := Default()
	for _, r := range s.Rules() {
		if _, ok := cases[r.ID]; !ok {
			t.Errorf("rule %s has no test case", r.ID)
		}
		if !strings.HasPrefix(r.Source, "gitleaks v8.30.1 "+r.ID) {
			t.Errorf("rule %s: source %q", r.ID, r.Source)
		}
	}
	for id, value := range cases {
		t.Run(id, func(t *testing.T) {
			content := "# config\nkey = \"" + value + "\"\n"
			ms := scan(t, content)
			if len(ms) != 1 || ms[0].Rule.ID != id || ms[0].Line != 2 {
				t.Fatalf("got %+v", ms)
			}
			if id == "private-key" {
				if body := strings.Split(key, "\n")[1]; !strings.HasPrefix(ms[0].Value, body) {
					t.Errorf("value of the key is not its body")
				}
			} else if ms[0].Value != value {
				t.Errorf("value %q, want %q", ms[0].Value, value)
			}
		})
	}
}

// TestNotSecrets: shapes that look like a rule's but are not secrets.
func TestNotSecrets(t *testing.T) {
	for name, content := range map[string]string{
		"PEM header in code":     "if line == \"-----BEGIN RSA PRIVATE KEY-----\":\n    parse()\n",
		"AWS documentation key":  "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
		"low entropy AWS":        "AKIAAAAAAAAAAAAAAAAA\n",
		"ghp prefix only":        "token = ghp_short\n",
		"public key":             "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
		"low entropy github pat": "ghp_" + strings.Repeat("a", 36) + "\n",
	} {
		if ms := scan(t, content); len(ms) != 0 {
			t.Errorf("%s: %+v", name, ms)
		}
	}
}

// TestBounds: a regex sees at most MaxLine bytes of a line; a file gives
// at most MaxPerFile secrets.
func TestBounds(t *testing.T) {
	tok := "ghp_" + random(t, alnum, 36)
	// A keyword inside a line far longer than MaxLine is still found, in
	// its window.
	long := strings.Repeat("x ", 4*MaxLine) + tok + strings.Repeat(" y", 4*MaxLine) + "\n"
	if ms := scan(t, long); len(ms) != 1 || ms[0].Line != 1 {
		t.Errorf("long line: %+v", ms)
	}
	// A value longer than the window is cut: the pypi rule's 50..1000
	// characters cannot grow beyond MaxLine.
	huge := "pypi-AgEIcHlwaS5vcmc" + strings.Repeat(random(t, alnum, 100), 2*MaxLine/100) + "\n"
	for _, m := range scan(t, huge) {
		if len(m.Value) > MaxLine {
			t.Errorf("value of %d bytes", len(m.Value))
		}
	}
	var b strings.Builder
	for i := 0; i < 3*MaxPerFile; i++ {
		fmt.Fprintf(&b, "t%d = %s\n", i, "ghp_"+random(t, alnum, 36))
	}
	if ms := scan(t, b.String()); len(ms) != MaxPerFile {
		t.Errorf("%d secrets, want %d", len(ms), MaxPerFile)
	}
	// A private key's block is read at most MaxBlock bytes from its line.
	far := "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Repeat("QUFB\n", MaxBlock/5+10) + "-----END RSA PRIVATE KEY-----\n"
	if ms := scan(t, far); len(ms) != 0 {
		t.Errorf("block beyond MaxBlock: %d matches", len(ms))
	}
}

func TestIsText(t *testing.T) {
	if !IsText([]byte("hello\n")) || IsText([]byte("\x7fELF\x00\x01")) || !IsText(append([]byte(strings.Repeat("a", 8000)), 0)) {
		t.Error("IsText")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"[[rules]]\nid = \"x\"\n",
		"[[rules]]\nid = \"x\"\nregex = '(('\nkeywords = [\"a\"]\nseverity = \"high\"\n",
		"[[rules]]\nid = \"x\"\nregex = 'a'\nkeywords = [\"a\"]\nseverity = \"dire\"\n",
		"[[rules]]\nid = \"x\"\nregex = 'a'\nsecret_group = 2\nkeywords = [\"a\"]\nseverity = \"high\"\n",
		"not toml [",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// FuzzScan: any content scans without a panic, within the bounds, and
// every match is on a line of the content and holds its value.
func FuzzScan(f *testing.F) {
	f.Add([]byte("key = \"ghp_0123456789abcdefghijABCDEFGHIJ012345\"\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("AKIAZ2345ABCDEFGHIJK sk_live_abcdefghij1234567890 xoxb-1234567890-1234567890-abc"))
	s, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	m := s.NewMatcher()
	f.Fuzz(func(t *testing.T, b []byte) {
		lines := 1 + strings.Count(string(b), "\n")
		n := 0
		m.Scan(b, func(x Match) bool {
			n++
			if x.Line < 1 || x.Line > lines || x.Value == "" || !strings.Contains(string(b), strings.SplitN(x.Value, "\n", 2)[0]) {
				t.Fatalf("match %+v in %d lines", x, lines)
			}
			return true
		})
		if n > MaxPerFile {
			t.Fatalf("%d matches", n)
		}
	})
}
