// Package all registers every output format of package report: import it
// for its side effects wherever users choose a format (the CLI, the
// server).
package all

import (
	_ "github.com/lapps/lapps/report/cyclonedx" // cyclonedx: CycloneDX 1.6 JSON
	_ "github.com/lapps/lapps/report/html"      // html: one self-contained page
	_ "github.com/lapps/lapps/report/openvex"   // openvex: OpenVEX
	_ "github.com/lapps/lapps/report/sarif"     // sarif: SARIF 2.1.0
	_ "github.com/lapps/lapps/report/spdx"      // spdx-json: SPDX 2.3 JSON
	_ "github.com/lapps/lapps/report/template"  // template: Go text/template
)
