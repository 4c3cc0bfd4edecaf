package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckLease validates the arguments of Leases.AcquireLease (ttl > 0) and,
// with ttl 1, of Leases.ReleaseLease, alike for every engine.
func CheckLease(name, holder string, ttl time.Duration) error {
	for what, v := range map[string]string{"name": name, "holder": holder} {
		if v == "" {
			return fmt.Errorf("lease: empty %s", what)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("lease: %s %q is not valid UTF-8 text", what, v)
		}
	}
	if ttl <= 0 {
		return errors.New("lease: ttl must be positive")
	}
	return nil
}
