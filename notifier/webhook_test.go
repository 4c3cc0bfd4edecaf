package notifier

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`)
	secret := []byte("s3cret")
	sig := Sign(secret, body)
	// The value a receiver computes with openssl:
	// printf '%s' "$body" | openssl dgst -sha256 -hmac s3cret
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("Sign = %q", sig)
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", string(secret), "-r")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := "sha256=" + strings.Fields(string(out))[0]; sig != want {
			t.Errorf("Sign = %s, openssl says %s", sig, want)
		}
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"valid", secret, body, sig, true},
		{"valid, spaces", secret, body, "  " + sig + " ", true},
		{"other secret", []byte("other"), body, sig, false},
		{"other body", secret, append(body, ' '), sig, false},
		{"no prefix", secret, body, strings.TrimPrefix(sig, "sha256="), false},
		{"sha1 prefix", secret, body, "sha1=" + strings.TrimPrefix(sig, "sha256="), false},
		{"not hex", secret, body, "sha256=zz" + sig[9:], false},
		{"truncated", secret, body, sig[:len(sig)-2], false},
		{"empty", secret, body, "", false},
	} {
		if got := Verify(tc.secret, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"delivery_id":"x"}`)
	f.Add(body, Sign([]byte("k"), body))
	f.Add([]byte{}, "sha256=")
	f.Add(body, "sha256=00")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		ok := Verify([]byte("k"), body, header)
		if ok != (strings.TrimSpace(header) == Sign([]byte("k"), body)) {
			t.Fatalf("Verify(%q, %q) = %v", body, header, ok)
		}
	})
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Max: time.Minute, Jitter: 0.2}
	for _, tc := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0.5, 10 * time.Second},
		{2, 0.5, 20 * time.Second},
		{3, 0.5, 40 * time.Second},
		{4, 0.5, time.Minute}, // capped
		{50, 0.5, time.Minute},
		{1, 0, 8 * time.Second},         // -20 %
		{4, 0.999999, 72 * time.Second}, // the cap, +20 %, at most
		{0, 0.5, 10 * time.Second},
	} {
		got := b.Delay(tc.attempt, tc.r)
		if (got - tc.want).Abs() > time.Millisecond {
			t.Errorf("Delay(%d, %v) = %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
}

func TestWebhookValidate(t *testing.T) {
	for _, tc := range []struct {
		w  Webhook
		ok bool
	}{
		{Webhook{Name: "a", URL: "https://hooks.example/lapps", Secret: "x"}, true},
		{Webhook{Name: "a", URL: "http://127.0.0.1:8080/", Secret: "x", Timeout: time.Second}, true},
		{Webhook{URL: "https://hooks.example/", Secret: "x"}, false},
		{Webhook{Name: "a", URL: "ftp://hooks.example/", Secret: "x"}, false},
		{Webhook{Name: "a", URL: "hooks.example/x", Secret: "x"}, false},
		{Webhook{Name: "a", URL: "https://hooks.example/"}, false},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "x", Timeout: -1}, false},
	} {
		if err := tc.w.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.w, err, tc.ok)
		}
	}
	if _, err := NewDeliverer(nil, []Webhook{{Name: "a", URL: "https://x/", Secret: "s"}, {Name: "a", URL: "https://y/", Secret: "s"}}); err == nil {
		t.Error("NewDeliverer with a duplicate name: no error")
	}
}
