package all_test

import (
	"testing"

	"github.com/lapps/lapps/indexer/all"
)

func TestCatalogers(t *testing.T) {
	names := map[string]bool{}
	for _, c := range all.Catalogers() {
		if names[c.Name()] {
			t.Errorf("cataloger %q registered twice", c.Name())
		}
		names[c.Name()] = true
	}
	for _, want := range []string{"os-release", "dpkg", "apk", "rpm"} {
		if !names[want] {
			t.Errorf("cataloger %q not registered", want)
		}
	}
	// Each distribution database has exactly one cataloger.
	for p, want := range map[string]string{
		"etc/os-release":                          "os-release",
		"var/lib/dpkg/status":                     "dpkg",
		"lib/apk/db/installed":                    "apk",
		"var/lib/rpm/rpmdb.sqlite":                "rpm",
		"var/lib/dpkg/info/libc6:amd64.list":      "dpkg",
		"var/lib/dpkg/info/python3-requests.list": "dpkg",
	} {
		var got []string
		for _, c := range all.Catalogers() {
			if c.Wants(p) {
				got = append(got, c.Name())
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s wanted by %q, want only %q", p, got, want)
		}
	}
}
