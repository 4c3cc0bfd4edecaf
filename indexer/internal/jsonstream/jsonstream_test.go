package jsonstream_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer/internal/jsonstream"
)

func skipAll(r io.Reader) error {
	d := jsonstream.NewDecoder(r)
	if err := d.Skip(); err != nil {
		return err
	}
	return d.End()
}

func TestSkipAgreesWithValid(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `null`, `1e400`, `"a\"b"`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, ` {"a":1} `,
		`{`, `{"a"}`, `{"a":1,}`, `[1 2]`, `{} {}`, `{}x`, `"\x01"`, `tru`, ``, `{"a":1}}`,
	} {
		err := skipAll(strings.NewReader(in))
		if valid := json.Valid([]byte(in)); valid != (err == nil) {
			t.Errorf("%q: valid %v, Skip error %v", in, valid, err)
		}
	}
}

// repeat yields head, then fill for n bytes, then tail.
func repeat(head string, fill byte, n int, tail string) io.Reader {
	return io.MultiReader(strings.NewReader(head), io.LimitReader(fillReader(fill), int64(n)), strings.NewReader(tail))
}

type fillReader byte

func (f fillReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

func TestTokenBound(t *testing.T) {
	keep := func(r io.Reader) error {
		d := jsonstream.NewDecoder(r)
		if _, err := d.Token(); err != nil {
			return err
		}
		err := d.Object(func(string) error {
			var s string
			return d.String(&s)
		})
		if err != nil {
			return err
		}
		return d.End()
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
		read func(io.Reader) error
		ok   bool
	}{
		{"kept string at the bound", repeat(`{"a":"`, 'x', jsonstream.MaxToken-2, `"}`), keep, true},
		{"kept string over the bound", repeat(`{"a":"`, 'x', jsonstream.MaxToken-1, `"}`), keep, false},
		{"a huge kept string", repeat(`{"a":"`, 'x', 300<<20, `"}`), keep, false},
		{"a huge key", repeat(`{"`, 'k', 300<<20, `":1}`), skipAll, false},
		{"a huge skipped string", repeat(`{"a":"`, 'x', 300<<20, `"}`), skipAll, true},
		{"a huge skipped number", repeat(`[1`, '0', 300<<20, `]`), skipAll, true},
		{"escaped quotes do not end a string", repeat(`{"a":"`, '\\', 2*jsonstream.MaxToken, `"}`), keep, false},
		{"many short tokens", repeat(`[`, ' ', 8<<20, `1]`), skipAll, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(tc.r)
			if tc.ok != (err == nil) {
				t.Fatalf("error %v", err)
			}
			if !tc.ok && !errors.Is(err, jsonstream.ErrTokenTooLong) {
				t.Errorf("error %v, want ErrTokenTooLong", err)
			}
		})
	}
}

func TestDepth(t *testing.T) {
	deep := strings.Repeat("[", jsonstream.MaxDepth+1) + strings.Repeat("]", jsonstream.MaxDepth+1)
	if err := skipAll(strings.NewReader(deep)); err == nil {
		t.Error("no error for a document nested too deep")
	}
	ok := strings.Repeat("[", jsonstream.MaxDepth) + strings.Repeat("]", jsonstream.MaxDepth)
	if err := skipAll(strings.NewReader(ok)); err != nil {
		t.Error(err)
	}
}

func TestTypedValues(t *testing.T) {
	var s string
	var b bool
	var n int
	d := jsonstream.NewDecoder(strings.NewReader(`{"s":"x","s2":null,"s3":1,"b":true,"b2":"no","n":12,"n2":1.5,"n3":[1]}`))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatal(tok, err)
	}
	var errs []string
	err := d.Object(func(key string) error {
		var err error
		switch key[0] {
		case 's':
			err = d.String(&s)
		case 'b':
			err = d.Bool(&b)
		case 'n':
			err = d.Int(&n)
		}
		var te *jsonstream.TypeError
		if errors.As(err, &te) {
			errs = append(errs, key+": "+err.Error())
			return nil
		}
		return err
	})
	if err != nil || d.End() != nil {
		t.Fatal(err)
	}
	if s != "x" || !b || n != 12 || len(errs) != 4 {
		t.Errorf("s %q b %v n %d errors %q", s, b, n, errs)
	}
}

func TestTrimmed(t *testing.T) {
	for in, ok := range map[string]bool{
		"\u00a0 [1] \u3000\n": true,
		"[1] \u00a0x":         false,
		"\u00a0x":             false,
		"[1]":                 true,
	} {
		d, err := jsonstream.NewDecoderTrimmed(strings.NewReader(in))
		if err == nil {
			err = d.Skip()
		}
		if err == nil {
			err = d.End()
		}
		if ok != (err == nil) {
			t.Errorf("%q: error %v", in, err)
		}
	}
}

// FuzzSkip checks that skipping a document succeeds exactly when
// encoding/json finds it valid.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}]}`, `[1e5, true, null]`, `"\ud800"`, `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := skipAll(strings.NewReader(string(b)))
		if valid := json.Valid(b); valid != (err == nil) {
			t.Fatalf("valid %v, Skip error %v", valid, err)
		}
	})
}

// FuzzString checks that a string value kept is the one encoding/json
// decodes, and that a document of one string is valid exactly when
// encoding/json says so.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"a\u00e9\ud83d\ude00"`, `"\ud800x"`, "\"\xff\xfe\"", `"\u12"`, `"a\qb"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		wantErr := json.Unmarshal(b, &want)
		var got string
		d := jsonstream.NewDecoder(strings.NewReader(string(b)))
		err := d.String(&got)
		if err == nil {
			err = d.End()
		}
		var te *jsonstream.TypeError
		if errors.As(err, &te) {
			return // another type: json.Unmarshal into a string fails too
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("error %v, encoding/json's %v", err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
