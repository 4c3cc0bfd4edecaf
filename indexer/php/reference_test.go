package php

// The parsers as they were before they were made to stream (issue 12):
// the reference FuzzComposerReference compares the streaming ones with.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/lapps/lapps/vuln"
)

// ParseInstalled reads an installed.json: a JSON array of packages
// (Composer 1) or an object whose "packages" member is one (Composer 2).
// Development packages are reported too: they are installed.
func refParseInstalled(b []byte) ([]vuln.Package, error) {
	b = bytes.TrimSpace(b)
	var list []pkg
	switch {
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, err
		}
	case len(b) > 0 && b[0] == '{':
		var v2 struct {
			Packages *[]pkg `json:"packages"`
		}
		if err := json.Unmarshal(b, &v2); err != nil {
			return nil, err
		}
		if v2.Packages == nil {
			return nil, fmt.Errorf("no packages member")
		}
		list = *v2.Packages
	default:
		return nil, fmt.Errorf("not a JSON array or object")
	}
	return packages(list), nil
}

// ParseLock reads a composer.lock: its "packages" and "packages-dev".
// Development packages may not be installed (composer install --no-dev);
// where vendor/composer/installed.json exists it says what is.
func refParseLock(b []byte) ([]vuln.Package, error) {
	var lock struct {
		Packages    *[]pkg `json:"packages"`
		PackagesDev []pkg  `json:"packages-dev"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, err
	}
	if lock.Packages == nil {
		return nil, fmt.Errorf("no packages member")
	}
	return packages(append(*lock.Packages, lock.PackagesDev...)), nil
}

// FuzzComposerReference checks that the streaming parsers find what the
// former ones found, and fail where they failed.
func FuzzComposerReference(f *testing.F) {
	for _, s := range []string{`{"packages":[{"name":"A/B","version":"v1.0"}],"packages-dev":[{"name":"c/d","version":"2"}]}`,
		`[{"name":"a/b","version":"1"},null]`, " \u00a0{\"packages\":null}", `{"packages":[{"Name":"a/b","version":1}]}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, isLock bool) {
		var got, want []vuln.Package
		var gotErr, wantErr error
		if isLock {
			got, gotErr = ParseLock(context.Background(), bytes.NewReader(b))
			want, wantErr = refParseLock(b)
		} else {
			got, gotErr = ParseInstalled(context.Background(), bytes.NewReader(b))
			want, wantErr = refParseInstalled(b)
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, the reference's %v", gotErr, wantErr)
		}
		if gotErr == nil && !slices.EqualFunc(got, want, sameIgnoringLicenses) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

// sameIgnoringLicenses compares packages as the reference sees them:
// the reference reads no licenses.
func sameIgnoringLicenses(a, b vuln.Package) bool {
	a.Licenses, b.Licenses = nil, nil
	return reflect.DeepEqual(a, b)
}
