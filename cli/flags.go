package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// flagHint is an error of a flag's value that says the whole story: the
// flag error handler prints it as it is, without pflag's `invalid
// argument "X" for "-i, --index" flag:` before it.
type flagHint struct{ error }

// flagError is the root command's flag error handler: every flag error is
// a usage error, and a flagHint is shown alone.
func flagError(_ *cobra.Command, err error) error {
	var h flagHint
	if errors.As(err, &h) {
		return usageError{h.error}
	}
	return usageError{err}
}

// scanIndexFlag is the -i/--index flag of the report commands: a scan
// number. A value that is not a number (an image reference, most often,
// since -i takes images in app deploy) is refused with what -i takes here
// and where the image goes.
type scanIndexFlag struct {
	n    *int
	list string // the command that lists the scans
	arg  string // where the image (or app) goes instead
}

// indexFlag registers -i/--index on cmd, stored in n.
func indexFlag(cmd *cobra.Command, n *int, usage, list, arg string) {
	cmd.Flags().VarP(&scanIndexFlag{n: n, list: list, arg: arg}, "index", "i", usage)
}

func (f *scanIndexFlag) String() string { return strconv.Itoa(*f.n) }
func (f *scanIndexFlag) Type() string   { return "int" }

func (f *scanIndexFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return flagHint{fmt.Errorf("-i/--index takes a scan number (see `%s`), not %q; %s", f.list, s, f.arg)}
	}
	*f.n = n
	return nil
}

// checkImageFlags refuses image values that are scan numbers: -i means
// --image in app deploy, and a number there is a scan index given to the
// wrong command (no image is named by digits alone).
func checkImageFlags(flag string, images []string) error {
	for _, im := range images {
		if im != "" && strings.Trim(im, "0123456789") == "" {
			return usageError{fmt.Errorf("%s takes image references (e.g. %s docker.io/library/nginx:1.27), not the number %s; a scan number goes to `lapps image security report IMAGE -i N`", flag, strings.SplitN(flag, "/", 2)[0], im)}
		}
	}
	return nil
}
