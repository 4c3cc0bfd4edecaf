package rpm

import (
	"slices"
	"strings"
	"testing"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
)

func TestOwnedFiles(t *testing.T) {
	tests := []struct {
		name    string
		pi      rpmdb.PackageInfo
		want    []string
		wantErr string
	}{
		{"no files", rpmdb.PackageInfo{}, nil, ""},
		{"empty string array", rpmdb.PackageInfo{BaseNames: []string{""}}, nil, ""},
		{"files and directories", rpmdb.PackageInfo{
			DirNames:   []string{"/usr/bin/", "/usr/lib/python3.9/site-packages/", "/usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info/"},
			BaseNames:  []string{"python3", "requests-2.25.1-py3.9.egg-info", "PKG-INFO"},
			DirIndexes: []int32{0, 1, 2},
			FileModes:  []uint16{0o100755, 0o040755, 0o100644},
		}, []string{"usr/bin/python3", "usr/lib/python3.9/site-packages/requests-2.25.1-py3.9.egg-info/PKG-INFO"}, ""},
		{"merged /usr names", rpmdb.PackageInfo{
			DirNames:   []string{"/lib64/", "/sbin/", "/libexec/"},
			BaseNames:  []string{"libc.so.6", "ldconfig", "x"},
			DirIndexes: []int32{0, 1, 2},
		}, []string{"lib64/libc.so.6", "usr/lib64/libc.so.6", "sbin/ldconfig", "usr/sbin/ldconfig", "libexec/x"}, ""},
		{"no modes: every entry kept", rpmdb.PackageInfo{
			DirNames:   []string{"/etc/"},
			BaseNames:  []string{"a", "b"},
			DirIndexes: []int32{0, 0},
			FileModes:  []uint16{0o040755},
		}, []string{"etc/a", "etc/b"}, ""},
		{"unclean and relative names", rpmdb.PackageInfo{
			DirNames:   []string{"//usr/./share/", "relative/", "/../.."},
			BaseNames:  []string{"a", "b", "/etc/c", ""},
			DirIndexes: []int32{0, 1, 2, 2},
		}, []string{"usr/share/a", "relative/b", "etc/c"}, ""},
		{"index out of range", rpmdb.PackageInfo{
			DirNames:   []string{"/usr/"},
			BaseNames:  []string{"a", "b"},
			DirIndexes: []int32{0, 1},
		}, nil, "out of range"},
		{"negative index", rpmdb.PackageInfo{
			DirNames:   []string{"/usr/"},
			BaseNames:  []string{"a"},
			DirIndexes: []int32{-1},
		}, nil, "out of range"},
		{"arrays disagree", rpmdb.PackageInfo{
			DirNames:   []string{"/usr/"},
			BaseNames:  []string{"a", "b"},
			DirIndexes: []int32{0},
		}, nil, "2 base names but 1 directory indexes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ownedFiles(&tt.pi)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
