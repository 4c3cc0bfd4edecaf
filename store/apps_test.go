package store

import (
	"strings"
	"testing"
	"time"
)

func TestEncodeDeployment(t *testing.T) {
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	upper := TextFunc(strings.ToUpper)
	for _, tc := range []struct {
		name    string
		d       *Deployment
		text    TextFunc
		err     string
		images  string
		reasons string
		at      time.Time
	}{
		{name: "nil", err: "record deployment: no app or environment"},
		{name: "no env", d: &Deployment{App: "shop", Verdict: VerdictPass}, err: "no app or environment"},
		{name: "bad verdict", d: &Deployment{App: "shop", Env: "prod", Verdict: "maybe"}, err: `verdict "maybe" is not pass, warn or fail`},
		{name: "no lists, now", d: &Deployment{App: "shop", Env: "prod", Verdict: VerdictWarn}, images: "[]", reasons: "[]", at: now},
		{
			name:   "lists through text, time kept",
			d:      &Deployment{App: "shop", Env: "prod", Verdict: VerdictFail, Images: []string{"a:1"}, Reasons: []string{"why"}, At: now.Add(-time.Hour)},
			text:   upper,
			images: `["A:1"]`, reasons: `["WHY"]`, at: now.Add(-time.Hour),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := EncodeDeployment(tc.d, tc.text, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Images != tc.images || c.Reasons != tc.reasons || !c.At.Equal(tc.at) {
				t.Errorf("got %+v, want images %s reasons %s at %v", c, tc.images, tc.reasons, tc.at)
			}
			var back Deployment
			if err := DecodeDeployment(&back, c.Images, c.Reasons); err != nil {
				t.Fatal(err)
			}
			if tc.text == nil && (len(back.Images) != len(tc.d.Images) || len(back.Reasons) != len(tc.d.Reasons)) {
				t.Errorf("decoded %+v from %+v", back, c)
			}
		})
	}
	d := &Deployment{App: "shop", Env: "prod", Verdict: VerdictPass, Images: []string{"a"}}
	if _, err := EncodeDeployment(d, upper, now); err != nil || d.Images[0] != "a" {
		t.Errorf("EncodeDeployment changed the caller's images: %v, %v", d.Images, err)
	}
}

func TestEncodeAppScan(t *testing.T) {
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	if _, err := EncodeAppScan(nil, nil, now); err == nil || err.Error() != "create app scan: no app" {
		t.Errorf("nil scan: %v", err)
	}
	if _, err := EncodeAppScan(&AppScan{App: "shop", Verdict: ""}, nil, now); err == nil || !strings.Contains(err.Error(), "create app scan of shop: verdict") {
		t.Errorf("empty verdict: %v", err)
	}
	c, err := EncodeAppScan(&AppScan{App: "shop", Verdict: VerdictPass, Images: []AppScanImage{{Image: "a", Index: 2}}}, strings.ToUpper, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Images != `[{"image":"A","index":2}]` || c.Summary != nil || !c.At.Equal(now) {
		t.Errorf("got %+v", c)
	}
	c, err = EncodeAppScan(&AppScan{App: "shop", Verdict: VerdictPass, Summary: []byte(`{"n":1}`)}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := c.Summary.([]byte); !ok || string(b) != `{"n":1}` || c.Images != "[]" {
		t.Errorf("got %+v", c)
	}
	var sc AppScan
	if err := DecodeAppScan(&sc, `[{"image":"a","index":1}]`, []byte{}); err != nil || sc.Summary != nil || len(sc.Images) != 1 {
		t.Errorf("decode: %+v, %v", sc, err)
	}
	if err := DecodeAppScan(&sc, `{`, nil); err == nil {
		t.Error("decode of a broken list: no error")
	}
}

func TestEncodeApp(t *testing.T) {
	if _, err := EncodeApp("", nil, nil); err == nil || err.Error() != "create app: no name" {
		t.Errorf("no name: %v", err)
	}
	if s, err := EncodeApp("shop", nil, nil); err != nil || s != "[]" {
		t.Errorf("no images: %q, %v", s, err)
	}
	if a := NewApp("shop", []string{}, time.Time{}); a.Images != nil {
		t.Errorf("NewApp kept an empty list: %#v", a.Images)
	}
}
