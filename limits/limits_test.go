package limits

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	bound := New("test input", 4, "bytes", "limits.test")
	for _, c := range []struct {
		in      string
		n       int64
		want    string
		wantErr bool
	}{
		{"abc", 4, "abc", false},
		{"abcd", 4, "abcd", false},
		{"abcde", 4, "", true},
		{"", 0, "", false},
		{"a", 0, "", true},
		{"abcdef", -1, "abcdef", false},
	} {
		b, err := ReadAll(strings.NewReader(c.in), c.n, bound)
		if c.wantErr {
			if !errors.Is(err, ErrExceeded) {
				t.Errorf("%q with %d: err %v, want ErrExceeded", c.in, c.n, err)
			}
			continue
		}
		if err != nil || string(b) != c.want {
			t.Errorf("%q with %d: %q, %v; want %q", c.in, c.n, b, err, c.want)
		}
	}
}

func TestError(t *testing.T) {
	err := error(New("layers of the image", 256, "layers", "limits.layers"))
	want := "layers of the image: more than 256 layers (limit set by limits.layers)"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	var le *Error
	if !errors.As(err, &le) || le.Limit != 256 || !errors.Is(err, ErrExceeded) || errors.Is(err, io.EOF) {
		t.Errorf("errors.As/Is: %v", err)
	}
}
