package jobs

import (
	"bytes"
	"testing"

	"github.com/lapps/lapps/image"
)

// TestSealer: sealed credentials open only with the key and the job id
// they were sealed for.
func TestSealer(t *testing.T) {
	creds := map[string]image.Credential{"h:5000": {Username: "robot$x", Password: "pw-123"}}
	a, b := newSealer(nil), newSealer(nil)
	shared1, shared2 := newSealer([]byte("a shared key")), newSealer([]byte("a shared key"))
	sealed, err := a.seal("job-1", creds)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("pw-123")) || bytes.Contains(sealed, []byte("robot")) {
		t.Fatal("the sealed form holds the credentials")
	}
	if got, err := a.open("job-1", sealed); err != nil || got["h:5000"] != creds["h:5000"] {
		t.Fatalf("open: %v %v", got, err)
	}
	for _, c := range []struct {
		name   string
		s      *sealer
		id     string
		sealed []byte
	}{
		{"another replica's key", b, "job-1", sealed},
		{"another job", a, "job-2", sealed},
		{"tampered", a, "job-1", append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1)},
		{"truncated", a, "job-1", sealed[:5]},
		{"no sealer", nil, "job-1", sealed},
	} {
		if _, err := c.s.open(c.id, c.sealed); err != errSealed {
			t.Errorf("%s: %v, want errSealed", c.name, err)
		}
	}
	s2, err := shared1.seal("job-3", creds)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := shared2.open("job-3", s2); err != nil || got["h:5000"] != creds["h:5000"] {
		t.Errorf("a shared key: %v %v", got, err)
	}
}
