package notifier

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignVector checks Sign against the test vector every Standard
// Webhooks library shares (a "whsec_" secret), and against openssl for a
// raw secret.
func TestSignVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; err != nil || got != want {
		t.Errorf("Sign = %q, %v; want %q", got, err, want)
	}

	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`)
	sig, err := Sign("s3cret", "A2EQK4WBSF2PYYRJSR76LCFOZU", time.Unix(1767225600, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write([]byte("A2EQK4WBSF2PYYRJSR76LCFOZU.1767225600." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); sig != want {
		t.Errorf("Sign = %s, want %s", sig, want)
	}
	// What a receiver computes with openssl:
	//   printf '%s.%s.%s' "$id" "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("no openssl: the cross-check with it is left out")
		return
	}
	cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", "s3cret", "-binary")
	cmd.Stdin = strings.NewReader("A2EQK4WBSF2PYYRJSR76LCFOZU.1767225600." + string(body))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1," + base64.StdEncoding.EncodeToString(out); sig != want {
		t.Errorf("Sign = %s, openssl says %s", sig, want)
	}
}

func TestSignRefuses(t *testing.T) {
	for _, tc := range []struct {
		secret, id string
		want       error
	}{
		{"", "a", ErrSecret},
		{"whsec_", "a", ErrSecret},
		{"whsec_not base64!", "a", ErrSecret},
		{"k", "", ErrMalformedHeader},
		{"k", "a.1", ErrMalformedHeader},
		{"k", "a b", ErrMalformedHeader},
		{"k", strings.Repeat("a", MaxIDLength+1), ErrMalformedHeader},
	} {
		if _, err := Sign(tc.secret, tc.id, time.Unix(1, 0), nil); !errors.Is(err, tc.want) {
			t.Errorf("Sign(%q, %q) = %v, want %v", tc.secret, tc.id, err, tc.want)
		}
	}
	// The error never holds the secret.
	if _, err := Sign("whsec_hunter2!", "a", time.Unix(1, 0), nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Sign with an invalid secret: %v", err)
	}
}

// signed returns the headers of a delivery signed with each of secrets.
func signed(t testing.TB, id string, ts time.Time, body []byte, secrets ...string) http.Header {
	t.Helper()
	var sigs []string
	for _, s := range secrets {
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return h
}

func TestVerify(t *testing.T) {
	const (
		secret = "s3cret"
		id     = "A2EQK4WBSF2PYYRJSR76LCFOZU"
	)
	ts := time.Unix(1767225600, 0)
	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`)
	good := signed(t, id, ts, body, secret)
	sig := good.Get(HeaderSignature)
	mac, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
	if err != nil {
		t.Fatal(err)
	}
	// The same 32 bytes in base64 with the two unused bits of the last
	// character set: a lenient decoder reads the same MAC.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", sig[len(sig)-2])
	loose := sig[:len(sig)-2] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|1]) + "="
	if lm, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(loose, "v1,")); err != nil || !bytes.Equal(lm, mac) || loose == sig {
		t.Fatalf("the loose encoding %s of %s: %x, %v", loose, sig, lm, err)
	}
	with := func(name, value string) http.Header {
		h := good.Clone()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, good, body, ts, nil},
		{"valid, 5 min later", secret, good, body, ts.Add(5 * time.Minute), nil},
		{"valid, 5 min earlier", secret, good, body, ts.Add(-5 * time.Minute), nil},
		{"valid, rotation: the old secret's first", secret, signed(t, id, ts, body, "old", secret), body, ts, nil},
		{"valid, rotation: the old secret verifies", "old", signed(t, id, ts, body, secret, "old"), body, ts, nil},
		{"valid, list with spaces", secret, with(HeaderSignature, "v1,bm9wZQ==  "+sig+" "), body, ts, nil},
		{"valid, whsec_ secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			signed(t, id, ts, body, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), body, ts, nil},

		{"replayed after 5 min 1 s", secret, good, body, ts.Add(5*time.Minute + time.Second), ErrTimestamp},
		{"from the future", secret, good, body, ts.Add(-5*time.Minute - time.Second), ErrTimestamp},
		{"replayed with a new timestamp", secret, with(HeaderTimestamp, "1767225700"), body, ts, ErrSignature},
		{"other secret", "other", good, body, ts, ErrSignature},
		{"the whsec_ form of the secret", "whsec_czNjcmV0", good, body, ts, nil},
		{"whsec_ secret is decoded, not raw", "whsec_czNjcmV0", signed(t, id, ts, body, "czNjcmV0"), body, ts, ErrSignature},
		{"other body", secret, good, append(bytes.Clone(body), ' '), ts, ErrSignature},
		{"empty body", secret, good, nil, ts, ErrSignature},
		{"other id", secret, with(HeaderID, "A2EQK4WBSF2PYYRJSR76LCFOZV"), body, ts, ErrSignature},
		{"v2", secret, with(HeaderSignature, "v2,"+sig[3:]), body, ts, ErrSignature},
		{"V1", secret, with(HeaderSignature, "V1,"+sig[3:]), body, ts, ErrSignature},
		{"no version", secret, with(HeaderSignature, sig[3:]), body, ts, ErrSignature},
		{"unused base64 bits set", secret, with(HeaderSignature, loose), body, ts, ErrSignature},
		{"no padding", secret, with(HeaderSignature, strings.TrimSuffix(sig, "=")), body, ts, ErrSignature},
		{"url-safe base64", secret, with(HeaderSignature, "v1,"+base64.URLEncoding.EncodeToString(mac)), body, ts,
			map[bool]error{true: nil, false: ErrSignature}[base64.URLEncoding.EncodeToString(mac) == sig[3:]]},
		{"hex", secret, with(HeaderSignature, "v1,"+hex.EncodeToString(mac)), body, ts, ErrSignature},
		{"upper-case hex", secret, with(HeaderSignature, "v1,"+strings.ToUpper(hex.EncodeToString(mac))), body, ts, ErrSignature},
		{"old scheme", secret, with(HeaderSignature, "sha256="+hex.EncodeToString(mac)), body, ts, ErrSignature},
		{"space inside", secret, with(HeaderSignature, "v1, "+sig[3:]), body, ts, ErrSignature},
		{"truncated", secret, with(HeaderSignature, sig[:len(sig)-2]), body, ts, ErrSignature},
		{"trailing newline", secret, with(HeaderSignature, sig+"\n"), body, ts, ErrSignature},

		{"no id", secret, with(HeaderID, ""), body, ts, ErrMissingHeader},
		{"no timestamp", secret, with(HeaderTimestamp, ""), body, ts, ErrMissingHeader},
		{"no signature", secret, with(HeaderSignature, ""), body, ts, ErrMissingHeader},
		{"no headers", secret, http.Header{}, body, ts, ErrMissingHeader},
		{"timestamp +", secret, with(HeaderTimestamp, "+1767225600"), body, ts, ErrMalformedHeader},
		{"timestamp 0…", secret, with(HeaderTimestamp, "01767225600"), body, ts, ErrMalformedHeader},
		{"timestamp spaces", secret, with(HeaderTimestamp, " 1767225600"), body, ts, ErrMalformedHeader},
		{"timestamp in ms", secret, with(HeaderTimestamp, "1767225600000"), body, ts, ErrTimestamp},
		{"timestamp fraction", secret, with(HeaderTimestamp, "1767225600.0"), body, ts, ErrMalformedHeader},
		{"timestamp RFC 3339", secret, with(HeaderTimestamp, ts.UTC().Format(time.RFC3339)), body, ts, ErrMalformedHeader},
		{"timestamp negative", secret, with(HeaderTimestamp, "-1"), body, time.Unix(0, 0), ErrMalformedHeader},
		{"timestamp overflow", secret, with(HeaderTimestamp, "99999999999999999999"), body, ts, ErrMalformedHeader},
		{"timestamp max", secret, with(HeaderTimestamp, "9223372036854775807"), body, ts, ErrTimestamp},
		{"id with a dot", secret, with(HeaderID, "A2EQK.4WBSF"), body, ts, ErrMalformedHeader},
		{"id too long", secret, with(HeaderID, strings.Repeat("A", MaxIDLength+1)), body, ts, ErrMalformedHeader},
		{"id not ASCII", secret, with(HeaderID, "délivery"), body, ts, ErrMalformedHeader},

		{"no secret", "", good, body, ts, ErrSecret},
		{"bad whsec_ secret", "whsec_!", good, body, ts, ErrSecret},
	} {
		err := Verify(tc.secret, tc.h, tc.body, tc.now, 0)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A tolerance of its own.
	if err := Verify(secret, good, body, ts.Add(time.Minute), 30*time.Second); !errors.Is(err, ErrTimestamp) {
		t.Errorf("Verify a minute later with a tolerance of 30 s = %v", err)
	}
}

// FuzzVerify signs a delivery (secret, id, ts, body), lets the fuzzer
// change what the receiver gets (the bits of mutate choose: 1 the id, 2
// the timestamp, 4 the body, 8 text around the signature, 16 one byte of
// the signature), and checks that Verify accepts exactly the deliveries
// whose id, timestamp and body are those signed and whose signature
// header holds the canonical signature as one of its space-separated
// items: no other encoding, and no mutation of what is signed.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU"}`)
	const id = "A2EQK4WBSF2PYYRJSR76LCFOZU"
	f.Add("s3cret", id, int64(1767225600), body, uint8(0), "", "", []byte(nil), "", "", uint16(0))
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`),
		uint8(0), "", "", []byte(nil), "", "", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(2), "", "+1767225600", []byte(nil), "", "", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(2), "", "01767225600", []byte(nil), "", "", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(2), "", "1767225601", []byte(nil), "", "", uint16(0))
	f.Add("s3cret", "a", int64(1), []byte("2.x"), uint8(7), "a.1", "2", []byte("x"), "", "", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(1), "A2EQK4WBSF2PYYRJSR76LCFOZu", "", []byte(nil), "", "", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(8), "", "", []byte(nil), "v1,AAAA ", " ", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(8), "", "", []byte(nil), "", "\n", uint16(0))
	f.Add("s3cret", id, int64(1767225600), body, uint8(16), "", "", []byte(nil), "", "", uint16(45<<8|1))
	f.Add("s3cret", id, int64(1767225600), body, uint8(16), "", "", []byte(nil), "", "", uint16(0x20<<8|3))
	f.Add("s3cret", id, int64(1767225600), body, uint8(4), "", "", append(bytes.Clone(body), ' '), "", "", uint16(0))
	f.Fuzz(func(t *testing.T, secret, id string, ts int64, body []byte, mutate uint8,
		gotID, gotTS string, gotBody []byte, pre, post string, flip uint16) {
		sig, err := Sign(secret, id, time.Unix(ts, 0), body)
		if err != nil {
			if validID(id) && secret != "" && !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("Sign(%q, %q) = %v", secret, id, err)
			}
			return
		}
		tsText := strconv.FormatInt(ts, 10)
		if mutate&1 == 0 {
			gotID = id
		}
		if mutate&2 == 0 {
			gotTS = tsText
		}
		if mutate&4 == 0 {
			gotBody = body
		}
		header := sig
		if mutate&16 != 0 {
			b := []byte(header)
			b[int(flip&0xff)%len(b)] ^= byte(flip >> 8)
			header = string(b)
		}
		if mutate&8 != 0 {
			header = pre + header + post
		}
		h := http.Header{}
		h.Set(HeaderID, gotID)
		h.Set(HeaderTimestamp, gotTS)
		h.Set(HeaderSignature, header)
		err = Verify(secret, h, gotBody, time.Unix(ts, 0), 0)

		same := gotID == id && gotTS == tsText && bytes.Equal(gotBody, body)
		canonical := slices.Contains(strings.Split(h.Get(HeaderSignature), " "), sig)
		if err == nil && (!same || !canonical) {
			t.Fatalf("Verify accepted id %q ts %q body %q signature %q; signed id %q ts %s body %q signature %q",
				gotID, gotTS, gotBody, header, id, tsText, body, sig)
		}
		if err != nil && same && canonical && ts >= 0 {
			t.Fatalf("Verify rejected the delivery as signed (signature header %q): %v", header, err)
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
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, true},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "whsec_"}, false},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "whsec_s3cret!"}, false},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "x", PreviousSecrets: []string{"old"}}, true},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "x", PreviousSecrets: []string{""}}, false},
		{Webhook{Name: "a", URL: "https://hooks.example/", Secret: "x", PreviousSecrets: []string{"whsec_s3cret!"}}, false},
		// Invalid, with credentials the error must not show.
		{Webhook{Name: "a", URL: "ftp://alice:pa55word@hooks.example/?api_key=k3yk3y", Secret: "x"}, false},
		{Webhook{Name: "a", URL: "https://alice:pa55word@hooks.example:port/?api_key=k3yk3y", Secret: "x"}, false},
		{Webhook{Name: "a", URL: "https://alice:pa55word@hooks.example/?api_key=k3yk3y", Secret: "x", Timeout: -1}, false},
	} {
		err := tc.w.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.w, err, tc.ok)
		}
		if err != nil {
			for _, secret := range []string{"alice", "pa55word", "k3yk3y", "s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Validate(%+v) = %v: shows %q", tc.w, err, secret)
				}
			}
		}
	}
	if _, err := NewDeliverer(nil, []Webhook{{Name: "a", URL: "https://x/", Secret: "s"}, {Name: "a", URL: "https://y/", Secret: "s"}}); err == nil {
		t.Error("NewDeliverer with a duplicate name: no error")
	}
}
