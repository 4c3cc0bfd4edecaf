package cli

import (
	"fmt"
	"strings"

	_ "github.com/lapps/lapps/report/all" // every output format
	"github.com/lapps/lapps/report/appformat"
	"github.com/lapps/lapps/report/openvex"
	"github.com/lapps/lapps/report/sarif"
	"github.com/lapps/lapps/report/template"
)

func init() {
	sarif.ToolVersion = Version
	openvex.ToolVersion = Version
}

// appOutput checks -o and --template of the app commands that write app
// reports, and parses the template.
func appOutput(output, spec string) (*template.Template, error) {
	if err := appformat.Check(output); err != nil {
		return nil, usageError{err}
	}
	return loadTemplate(output, spec)
}

func appOutputHelp() string {
	return fmt.Sprintf("output format: table, %s (SBOM formats describe one image: use image security report)", strings.Join(appformat.Formats, ", "))
}
